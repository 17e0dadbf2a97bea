import { expect } from 'vitest';
import type { Queryable } from '../../src/platform/db/pool.ts';

/**
 * The payments ledger's invariants, checked against payments_db by summing entries (call it after
 * every test that moves money; pass the payments pool):
 * - every journal has at least two entries, all in its currency, and its debits equal its credits;
 * - in every currency, all debits equal all credits;
 * - no account that may not go negative (seller payables, commission, clearing) is below zero on
 *   its normal side, in any currency;
 * - refunded ≤ captured ≤ amount, for every intent and every allocation;
 * - per order's share of a payment, its refunds not failed add up to its refunded total, and its
 *   succeeded refunds never pass what it captured;
 * - the gateway clearing account holds exactly what was captured minus what was refunded.
 */
export async function expectLedgerBalanced(pool: Queryable): Promise<void> {
  const journals = await pool.query<{ id: string; currency: string; entries: number; debits: number; credits: number; foreign: number }>(
    `SELECT j.id, j.currency, count(l.id)::int AS entries,
            coalesce(sum(l.debit), 0)::bigint AS debits, coalesce(sum(l.credit), 0)::bigint AS credits,
            count(l.id) FILTER (WHERE l.currency <> j.currency)::int AS foreign
       FROM ledger_journals j LEFT JOIN ledgers l ON l.journal_id = j.id
      GROUP BY j.id, j.currency
     HAVING count(l.id) < 2 OR coalesce(sum(l.debit), 0) <> coalesce(sum(l.credit), 0)
         OR count(l.id) FILTER (WHERE l.currency <> j.currency) > 0`,
  );
  expect(journals.rows, 'journals that do not balance').toEqual([]);

  const perCurrency = await pool.query<{ currency: string; debits: number; credits: number }>(
    `SELECT currency, sum(debit)::bigint AS debits, sum(credit)::bigint AS credits
       FROM ledgers GROUP BY currency HAVING sum(debit) <> sum(credit)`,
  );
  expect(perCurrency.rows, 'currencies whose debits and credits differ').toEqual([]);

  const negative = await pool.query<{ account: string; currency: string; balance: number }>(
    `SELECT a.account, l.currency,
            (CASE WHEN a.kind IN ('asset', 'expense') THEN sum(l.debit) - sum(l.credit)
                  ELSE sum(l.credit) - sum(l.debit) END)::bigint AS balance
       FROM ledger_accounts a JOIN ledgers l ON l.account = a.account
      WHERE NOT a.may_go_negative
      GROUP BY a.account, a.kind, l.currency
     HAVING (CASE WHEN a.kind IN ('asset', 'expense') THEN sum(l.debit) - sum(l.credit)
                  ELSE sum(l.credit) - sum(l.debit) END) < 0`,
  );
  expect(negative.rows, 'accounts below zero that may not go negative').toEqual([]);

  const intents = await pool.query(
    `SELECT id, amount, captured_amount, refunded_amount FROM payment_intents
      WHERE NOT (0 <= refunded_amount AND refunded_amount <= captured_amount AND captured_amount <= amount)`,
  );
  expect(intents.rows, 'intents refunded beyond captured').toEqual([]);
  const allocations = await pool.query(
    `SELECT id, amount, captured_amount, refunded_amount FROM payment_allocations
      WHERE NOT (0 <= refunded_amount AND refunded_amount <= captured_amount AND captured_amount <= amount)`,
  );
  expect(allocations.rows, 'allocations refunded beyond captured').toEqual([]);

  // The refund records themselves, per order's share of a payment: what was asked and not failed is
  // the allocation's refunded total, and what succeeded never passes what it captured (the columns'
  // CHECKs hold the totals; this holds the records to them).
  const perOrder = await pool.query(
    `SELECT a.id, a.order_id, a.captured_amount, a.refunded_amount, coalesce(r.asked, 0)::bigint AS asked, coalesce(r.succeeded, 0)::bigint AS succeeded
       FROM payment_allocations a
       LEFT JOIN (SELECT payment_intent_id, order_id,
                         sum(amount) FILTER (WHERE outcome <> 'failed') AS asked,
                         sum(amount) FILTER (WHERE outcome = 'succeeded') AS succeeded
                    FROM (SELECT f.payment_intent_id, f.order_id, f.amount,
                                 -- refunds is append-only: a refund's outcome is its transactions' (it never fails after succeeding)
                                 CASE WHEN bool_or(t.status = 'succeeded') THEN 'succeeded' WHEN bool_or(t.status = 'failed') THEN 'failed' ELSE 'pending' END AS outcome
                            FROM refunds f LEFT JOIN payment_transactions t ON t.refund_id = f.id AND t.type = 'refund'
                           GROUP BY f.id) AS o
                   GROUP BY payment_intent_id, order_id) r
         ON r.payment_intent_id = a.payment_intent_id AND r.order_id = a.order_id
      WHERE coalesce(r.asked, 0) <> a.refunded_amount OR coalesce(r.succeeded, 0) > a.captured_amount`,
  );
  expect(perOrder.rows, "orders' refunds that disagree with their share of the payment").toEqual([]);

  const clearing = await pool.query<{ currency: string; ledger: number; records: number }>(
    `WITH records AS (
       SELECT i.currency, sum(i.captured_amount - coalesce(r.refunded, 0)) AS net
         FROM payment_intents i
         LEFT JOIN (SELECT payment_intent_id, sum(amount) AS refunded FROM payment_transactions
                     WHERE type = 'refund' AND status = 'succeeded' GROUP BY payment_intent_id) r
           ON r.payment_intent_id = i.id
        GROUP BY i.currency),
     ledger AS (
       SELECT currency, sum(debit) - sum(credit) AS net FROM ledgers WHERE account = 'gateway_clearing' GROUP BY currency)
     SELECT coalesce(r.currency, l.currency) AS currency, coalesce(l.net, 0)::bigint AS ledger, coalesce(r.net, 0)::bigint AS records
       FROM records r FULL JOIN ledger l ON l.currency = r.currency
      WHERE coalesce(l.net, 0) <> coalesce(r.net, 0)`,
  );
  expect(clearing.rows, 'gateway clearing differs from captured minus refunded').toEqual([]);
}

/** Balance of one ledger account on its normal side, per currency (seller payables: what is owed). */
export async function ledgerBalance(pool: Queryable, account: string): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ currency: string; balance: number }>(
    `SELECT l.currency,
            (CASE WHEN a.kind IN ('asset', 'expense') THEN sum(l.debit) - sum(l.credit)
                  ELSE sum(l.credit) - sum(l.debit) END)::bigint AS balance
       FROM ledger_accounts a JOIN ledgers l ON l.account = a.account
      WHERE a.account = $1 GROUP BY a.kind, l.currency`,
    [account],
  );
  return Object.fromEntries(rows.map((r) => [r.currency.trim(), r.balance]));
}
