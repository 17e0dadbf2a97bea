import type { HttpApp } from '../platform/http/server.ts';

/** Demo logins, printed by the seed: the same password for every demo account (never for production). */
export const DEMO_PASSWORD = 'bazaar-demo-password';
export const DEMO_BUYERS = 2;

export interface DemoLogin {
  email: string;
  password: string;
  role: 'seller' | 'buyer';
  userId: string;
}

/** How the seed gets a user id for a demo login: create the account, or find the one that exists. */
export interface DemoAccounts {
  ensure(email: string, password: string, role: 'seller' | 'buyer'): Promise<string>;
}

/**
 * Demo accounts through the public HTTP API (register, or log in when the email is taken), since
 * the accounts domain exports no way to create users: the seed stays a client like any other.
 */
export function accountsOverHttp(http: HttpApp): DemoAccounts {
  return {
    async ensure(email, password, role) {
      const registered = await http.inject({ method: 'POST', url: '/v1/auth/register', payload: { email, password, role } });
      if (registered.statusCode === 201) return (registered.json() as { id: string }).id;
      if (registered.statusCode !== 409) throw new Error(`registering ${email} failed: ${registered.statusCode} ${registered.body}`);
      const login = await http.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });
      if (login.statusCode !== 200) throw new Error(`${email} exists but does not accept the demo password (${login.statusCode})`);
      const token = (login.json() as { accessToken: string }).accessToken;
      const me = await http.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
      if (me.statusCode !== 200) throw new Error(`reading ${email} failed: ${me.statusCode}`);
      return (me.json() as { id: string }).id;
    },
  };
}

export async function ensureDemoLogins(accounts: DemoAccounts, sellers: number): Promise<DemoLogin[]> {
  const logins: DemoLogin[] = [];
  for (let i = 1; i <= sellers; i++) {
    const email = `seller${i}@bazaar.test`;
    logins.push({ email, password: DEMO_PASSWORD, role: 'seller', userId: await accounts.ensure(email, DEMO_PASSWORD, 'seller') });
  }
  for (let i = 1; i <= DEMO_BUYERS; i++) {
    const email = `buyer${i}@bazaar.test`;
    logins.push({ email, password: DEMO_PASSWORD, role: 'buyer', userId: await accounts.ensure(email, DEMO_PASSWORD, 'buyer') });
  }
  return logins;
}
