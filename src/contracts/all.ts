// Each domain's contracts register themselves when imported here.
import './accounts.ts';
import './products.ts';
import './inventory.ts';
import './payments.ts';
import './orders.ts';
import './checkout.ts';
import './coupons.ts';
import './cart.ts';
import './shipping.ts';
import './notifications.ts';
