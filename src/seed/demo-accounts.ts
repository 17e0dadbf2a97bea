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
 * Demo accounts through the public HTTP API, since the accounts domain exports no way to create
 * users: the seed stays a client like any other. It logs in first and registers only an email that
 * does not sign in: registrations are limited per address whether or not they are accepted
 * (`REGISTRATIONS_PER_ADDRESS_PER_HOUR`, 20 by default), so registering first made the fourth seed
 * of an hour fail on its demo logins, all of which existed.
 */
export function accountsOverHttp(http: HttpApp): DemoAccounts {
  const signIn = async (email: string, password: string): Promise<string | undefined> => {
    const login = await http.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });
    if (login.statusCode === 401) return undefined;
    if (login.statusCode !== 200) throw new Error(`signing in ${email} failed: ${login.statusCode} ${login.body}`);
    const token = (login.json() as { accessToken: string }).accessToken;
    const me = await http.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
    if (me.statusCode !== 200) throw new Error(`reading ${email} failed: ${me.statusCode}`);
    return (me.json() as { id: string }).id;
  };
  return {
    async ensure(email, password, role) {
      const existing = await signIn(email, password);
      if (existing) return existing;
      const registered = await http.inject({ method: 'POST', url: '/v1/auth/register', payload: { email, password, role } });
      if (registered.statusCode === 201) return (registered.json() as { id: string }).id;
      if (registered.statusCode === 409) {
        // Registered meanwhile (another process seeding at once), or an account of its own password.
        const raced = await signIn(email, password);
        if (raced) return raced;
        throw new Error(`${email} exists but does not accept the demo password`);
      }
      throw new Error(`registering ${email} failed: ${registered.statusCode} ${registered.body}`);
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
