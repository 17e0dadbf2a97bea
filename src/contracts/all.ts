// Each domain's contracts register themselves when imported here.
import './accounts.ts';
import './payments.ts';
import './orders.ts';
import './coupons.ts';
