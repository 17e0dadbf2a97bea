import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Outcome, claimDue, insertNotifications, recordOutcomes } from '../../src/domains/notifications/sql.ts';
import { type Pool, createPool } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';

/** The delivery worker's claims and outcomes, called directly: two workers' turns in a set order. */
let dbs: FreshDatabases;
let pool: Pool;

beforeAll(async () => {
  dbs = await freshDatabases();
  pool = createPool(dbs.targets.find((t) => t.domain === 'notifications')!.url, 2, 'test-notifications');
});
afterAll(async () => {
  await pool?.end();
  await dbs?.drop();
});

const LEASE_MS = 60_000;
const payload = { title: 'Order confirmed', body: 'Thank you', data: {} };

describe('an outcome of the delivery worker', () => {
  it('changes nothing once another worker took the claim over, also when neither counted an attempt (found by a review: the stale wait overwrote the newer one)', async () => {
    const t0 = new Date('2030-01-01T00:00:00.000Z');
    const [made] = await insertNotifications(pool, newId(), [{ id: newId(), userId: newId(), type: 'order_paid', channel: 'email', payload }], t0);
    // A claims it, finds no address, and stalls past its lease.
    const [a] = await claimDue(pool, t0, new Date(t0.getTime() + LEASE_MS), 10);
    // B takes it over, finds no address either, and records the wait: the attempt is taken back.
    const t1 = new Date(t0.getTime() + LEASE_MS + 1000);
    const [b] = await claimDue(pool, t1, new Date(t1.getTime() + LEASE_MS), 10);
    expect([a?.id, b?.id, a?.attempts, b?.attempts]).toEqual([made?.id, made?.id, 1, 2]);
    const wait = (claim: NonNullable<typeof a>, nextAttemptAt: Date, lastError: string): Outcome => ({
      id: claim.id,
      attempts: claim.attempts,
      leaseUntil: claim.lease_until,
      counted: false,
      status: 'pending',
      sentAt: null,
      nextAttemptAt,
      lastError,
    });
    const later = new Date(t1.getTime() + 30_000);
    expect(await recordOutcomes(pool, [wait(b as NonNullable<typeof b>, later, 'no email address is known for the user yet')])).toHaveLength(1);
    // A wakes and records its own wait: stale.
    expect(await recordOutcomes(pool, [wait(a as NonNullable<typeof a>, new Date(t0.getTime() + 2000), 'stale')])).toEqual([]);
    const { rows } = await pool.query('SELECT attempts, next_attempt_at, last_error FROM notifications WHERE id = $1', [made?.id]);
    expect(rows).toEqual([{ attempts: 1, next_attempt_at: later, last_error: 'no email address is known for the user yet' }]);
  });
});
