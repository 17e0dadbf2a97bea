import { createAccountsModule } from './domains/accounts/index.ts';
import { createCouponsModule } from './domains/coupons/index.ts';
import { createOrdersModule } from './domains/orders/index.ts';
import { createPaymentsModule } from './domains/payments/index.ts';
import type { DomainName } from './platform/domains.ts';
import type { DomainContext, DomainModule } from './platform/module.ts';

/**
 * The composition root's list of domains. Each entry calls the factory a domain exports from its
 * public `index.ts`; cross-domain reads are wired here through those public APIs.
 */
export function domainFactories(context: (domain: DomainName) => DomainContext): DomainModule[] {
  const accounts = createAccountsModule(context('accounts'));
  const orders = createOrdersModule(context('orders'));
  const payments = createPaymentsModule(context('payments'));
  const coupons = createCouponsModule(context('coupons'));
  return [accounts, orders, payments, coupons];
}
