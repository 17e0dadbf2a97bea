import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { type PaymentsHarness, paymentFor, startPayments } from './harness.ts';

let h: PaymentsHarness;
let intentId: string;

beforeAll(async () => {
  h = await startPayments();
  const sellerId = newId();
  const input = paymentFor([{ sellerId, amount: 1000 }]);
  ({ intentId } = await h.module.api.authorize(input));
  await h.module.api.capture(intentId);
  await h.module.api.refund({ idempotencyKey: newId(), orderId: input.allocations[0]?.orderId as string, sellerId, amount: 100, reason: 'test' });
});
afterEach(async () => {
  await expectLedgerBalanced(h.pool);
});
afterAll(async () => {
  await h?.close();
});

const REFUSED = { code: 'BZ001' };

describe('append-only money records', () => {
  it.each([
    ['payment_transactions', "UPDATE payment_transactions SET status = 'failed', failure_code = 'x' WHERE payment_intent_id = $1"],
    ['payment_transactions', 'DELETE FROM payment_transactions WHERE payment_intent_id = $1'],
    ['refunds', 'UPDATE refunds SET amount = amount + 1 WHERE payment_intent_id = $1'],
    ['refunds', 'DELETE FROM refunds WHERE payment_intent_id = $1'],
    ['ledgers', 'UPDATE ledgers SET debit = debit + 1 WHERE journal_id IN (SELECT id FROM ledger_journals WHERE reference_id = $1)'],
    ['ledgers', 'DELETE FROM ledgers WHERE journal_id IN (SELECT id FROM ledger_journals WHERE reference_id = $1)'],
    ['ledger_journals', "UPDATE ledger_journals SET description = 'changed' WHERE reference_id = $1"],
    ['ledger_journals', 'DELETE FROM ledger_journals WHERE reference_id = $1'],
  ])('refuses to change %s: %s', async (_table, sql) => {
    await expect(h.pool.query(sql, [intentId])).rejects.toMatchObject(REFUSED);
  });

  it.each(['payment_transactions', 'refunds', 'ledgers', 'ledger_journals'])('refuses to truncate %s', async (table) => {
    await expect(h.pool.query(`TRUNCATE ${table} CASCADE`)).rejects.toMatchObject(REFUSED);
  });

  it("refuses to change an intent's amount, currency or buyer, or an allocation's order or amount", async () => {
    await expect(h.pool.query('UPDATE payment_intents SET amount = amount + 1 WHERE id = $1', [intentId])).rejects.toMatchObject(REFUSED);
    await expect(h.pool.query("UPDATE payment_intents SET currency = 'EUR' WHERE id = $1", [intentId])).rejects.toMatchObject(REFUSED);
    await expect(h.pool.query('DELETE FROM payment_intents WHERE id = $1', [intentId])).rejects.toMatchObject(REFUSED);
    await expect(h.pool.query('UPDATE payment_allocations SET seller_id = $2 WHERE payment_intent_id = $1', [intentId, newId()])).rejects.toMatchObject(REFUSED);
    await expect(h.pool.query('DELETE FROM payment_allocations WHERE payment_intent_id = $1', [intentId])).rejects.toMatchObject(REFUSED);
  });

  it('refuses a journal that does not balance, and one with a single entry, at commit', async () => {
    const client = await h.pool.connect();
    try {
      for (const entries of [
        [['gateway_clearing', 100, 0], ['platform_commission', 0, 99]],
        [['gateway_clearing', 100, 0]],
      ] as const) {
        await client.query('BEGIN');
        const journalId = newId();
        await client.query("INSERT INTO ledger_journals (id, kind, reference_id, currency) VALUES ($1, 'manual_test', $2, 'USD')", [journalId, newId()]);
        for (const [account, debit, credit] of entries) {
          await client.query("INSERT INTO ledgers (id, journal_id, account, debit, credit, currency, reference_id) VALUES ($1, $2, $3, $4, $5, 'USD', $6)", [
            newId(),
            journalId,
            account,
            debit,
            credit,
            newId(),
          ]);
        }
        await expect(client.query('COMMIT')).rejects.toMatchObject({ code: '23514' });
      }
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });
});
