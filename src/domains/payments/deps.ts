import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { PaymentGateway } from './gateway.ts';

/** What the payments use cases work with; built once by the module factory. */
export interface PaymentsDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  gateways: ReadonlyMap<string, PaymentGateway>;
  defaultGateway: string;
  /** Platform commission on captures, in basis points. */
  commissionBps: number;
  /** Asks the payments worker to look for work now (a void or refund waiting to be sent). */
  wakeWorker(): void;
}

export function gatewayNamed(deps: PaymentsDeps, name: string): PaymentGateway {
  const gateway = deps.gateways.get(name);
  if (!gateway) throw new AppError('NOT_FOUND', `no payment gateway named ${name}`);
  return gateway;
}
