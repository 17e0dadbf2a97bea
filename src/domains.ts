import { createAccountsModule } from './domains/accounts/index.ts';
import { createCartModule } from './domains/cart/index.ts';
import { createCheckoutModule } from './domains/checkout/index.ts';
import { createCouponsModule } from './domains/coupons/index.ts';
import { createInventoryModule } from './domains/inventory/index.ts';
import { createNotificationsModule } from './domains/notifications/index.ts';
import { createOrdersModule } from './domains/orders/index.ts';
import { createPaymentsModule } from './domains/payments/index.ts';
import { createProductsModule } from './domains/products/index.ts';
import { createShippingModule } from './domains/shipping/index.ts';
import { createSearchModule } from './domains/search/index.ts';
import type { DomainName } from './platform/domains.ts';
import type { DomainContext, DomainModule } from './platform/module.ts';

/**
 * The composition root's list of domains. Each entry calls the factory a domain exports from its
 * public `index.ts`; cross-domain reads are wired here through those public APIs.
 */
export function domainFactories(context: (domain: DomainName) => DomainContext): DomainModule[] {
  const accounts = createAccountsModule(context('accounts'));
  const orders = createOrdersModule(context('orders'));
  const products = createProductsModule(context('products'));
  const inventory = createInventoryModule(context('inventory'), {}, { catalog: products.api });
  const payments = createPaymentsModule(context('payments'));
  const coupons = createCouponsModule(context('coupons'), { catalog: products.api, accounts: accounts.api });
  const cart = createCartModule(context('cart'), { catalog: products.api, stock: inventory.api, coupons: coupons.api });
  const checkout = createCheckoutModule(context('checkout'), {
    accounts: accounts.api,
    products: products.api,
    inventory: inventory.api,
    cart: cart.api,
    coupons: coupons.api,
    orders: orders.api,
    payments: payments.api,
  });
  const shipping = createShippingModule(context('shipping'), { orders: orders.api });
  const notifications = createNotificationsModule(context('notifications'), { orders: orders.api });
  const search = createSearchModule(context('search'));
  return [accounts, orders, inventory, products, payments, coupons, cart, checkout, shipping, notifications, search];
}
