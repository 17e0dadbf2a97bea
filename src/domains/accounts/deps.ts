import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import type { TokenService } from '../../platform/http/tokens.ts';
import type { LoginLimitPolicy, RegistrationLimitPolicy } from './login-limits.ts';
import type { Passwords } from './passwords.ts';

/** What the accounts use cases work with; built once by the module factory. */
export interface AccountsDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  tokens: TokenService;
  passwords: Passwords;
  loginLimits: LoginLimitPolicy;
  registrationLimits: RegistrationLimitPolicy;
}
