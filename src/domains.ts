import { createAccountsModule } from './domains/accounts/index.ts';
import type { DomainName } from './platform/domains.ts';
import type { DomainContext, DomainModule } from './platform/module.ts';

/**
 * The composition root's list of domains. Each entry calls the factory a domain exports from its
 * public `index.ts`; cross-domain reads are wired here through those public APIs.
 */
export function domainFactories(context: (domain: DomainName) => DomainContext): DomainModule[] {
  const accounts = createAccountsModule(context('accounts'));
  return [accounts];
}
