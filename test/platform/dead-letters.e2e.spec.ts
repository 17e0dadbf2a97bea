import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DomainName, domainTables } from '../../src/platform/domains.ts';
import { encodeCursor, signCursor } from '../../src/platform/http/cursor.ts';
import { deadLetterScope } from '../../src/platform/http/dead-letter-page.ts';
import { newId } from '../../src/platform/ids.ts';
import { type TestApp, startTestApp } from '../support/app.ts';

/** GET /v1/admin/events/dead-letters is a list like the others: newest first, cursor paged, across domains. */
let t: TestApp;
let admin: string;

interface Parked {
  id: string;
  domain: DomainName;
  /** Microseconds, as PostgreSQL keeps a timestamptz. */
  parkedAt: string;
}

/** Parks an event in a domain at a given time (an inbox row marked dead and its dead letter). */
async function park(domain: DomainName, parkedAt: string): Promise<Parked> {
  const tables = domainTables(domain);
  const pool = t.app.pools.get(domain)!;
  const eventId = newId();
  const envelope = { specversion: '1.0', id: eventId, type: 'probe.thing_happened.v1', source: '/bazaar/orders', subject: newId(), data: {} };
  await pool.query(
    `INSERT INTO ${tables.inbox} (consumer, event_id, source, aggregate_id, event_type, envelope, status, attempts)
     VALUES ('test.parked', $1, '/bazaar/orders', $2, 'probe.thing_happened.v1', $3, 'dead', 3)`,
    [eventId, envelope.subject, JSON.stringify(envelope)],
  );
  const id = newId();
  await pool.query(
    `INSERT INTO ${tables.deadLetters} (id, consumer, event_id, event_type, source, envelope, attempts, last_error, parked_at)
     VALUES ($1, 'test.parked', $2, 'probe.thing_happened.v1', '/bazaar/orders', $3, 3, 'broken on purpose', $4)`,
    [id, eventId, JSON.stringify(envelope), parkedAt],
  );
  return { id, domain, parkedAt };
}

async function page(query: string) {
  const answer = await t.request('GET', `/v1/admin/events/dead-letters${query}`, { token: admin });
  expect(answer.statusCode, answer.body).toBe(200);
  return answer.json() as { items: { id: string; domain: string; parkedAt: string }[]; nextCursor: string | null };
}

/** Every page, following nextCursor; the ids in the order they came. */
async function walk(query: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 20; pages++) {
    const p = await page(`${query}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    ids.push(...p.items.map((i) => i.id));
    if (p.nextCursor === null) return ids;
    cursor = p.nextCursor;
  }
  throw new Error('more pages than events');
}

const newestFirst = (a: Parked, b: Parked) => (a.parkedAt === b.parkedAt ? (a.id < b.id ? 1 : -1) : a.parkedAt < b.parkedAt ? 1 : -1);

let parked: Parked[];

beforeAll(async () => {
  t = await startTestApp();
  admin = (await t.app.tokens.sign({ userId: newId(), roles: ['admin'] })).token;
  // Within one millisecond, in two domains, two at the very same microsecond: a cursor cut to
  // milliseconds, or one that ignores the id, would skip or repeat some of them.
  parked = [
    await park('inventory', '2026-03-01T10:00:00.000300Z'),
    await park('inventory', '2026-03-01T10:00:00.000300Z'),
    await park('orders', '2026-03-01T10:00:00.000300Z'),
    await park('inventory', '2026-03-01T10:00:00.000100Z'),
    await park('orders', '2026-03-01T10:00:00.000200Z'),
    await park('orders', '2026-03-01T10:00:00.000900Z'),
    await park('payments', '2026-02-28T23:59:59.999999Z'),
    await park('orders', '2026-03-02T08:00:00.000000Z'),
  ];
});
afterAll(() => t.close());

describe('the dead letters list', () => {
  it('pages through every parked event of every domain once, newest first', async () => {
    const expected = [...parked].sort(newestFirst).map((p) => p.id);
    for (const limit of [1, 2, 3, 50]) expect(await walk(`?limit=${limit}`), `limit ${limit}`).toEqual(expected);
    const first = await page('?limit=3');
    expect(first.items).toHaveLength(3);
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(first.items[0]).toMatchObject({ domain: 'orders', parkedAt: '2026-03-02T08:00:00.000Z', lastError: 'broken on purpose', attempts: 3 });
  });

  it('pages one domain alone, and ends with a null cursor', async () => {
    const expected = parked.filter((p) => p.domain === 'inventory').sort(newestFirst).map((p) => p.id);
    expect(await walk('?domain=inventory&limit=1')).toEqual(expected);
    expect((await page('?domain=inventory&limit=3')).nextCursor).toBeNull();
  });

  it('defaults the limit and caps it', async () => {
    expect((await page('')).items).toHaveLength(parked.length);
    const over = await t.request('GET', '/v1/admin/events/dead-letters?limit=201', { token: admin });
    expect(over.statusCode).toBe(400);
    expect(over.json().code).toBe('VALIDATION_FAILED');
  });

  it('refuses a cursor it did not write', async () => {
    const DEAD_LETTERS_OF_ALL = deadLetterScope([...t.app.pools.keys()]);
    for (const cursor of [
      'not-a-cursor',
      encodeCursor(DEAD_LETTERS_OF_ALL, { t: '2026-03-01T10:00:00.000Z', i: newId() }),
      // Signed, but for no list: a cursor of another list is refused alike.
      signCursor({ t: '2026-03-01T10:00:00.000300Z', i: newId() }),
      encodeCursor('dead-letters:orders', { t: '2026-03-01T10:00:00.000300Z', i: newId() }),
      encodeCursor(DEAD_LETTERS_OF_ALL, { t: '2026-03-01T10:00:00.000300Z', i: 'zz' }),
      encodeCursor(DEAD_LETTERS_OF_ALL, { t: '0000-03-01T10:00:00.000300Z', i: newId() }),
    ]) {
      const answer = await t.request('GET', `/v1/admin/events/dead-letters?cursor=${encodeURIComponent(cursor)}`, { token: admin });
      expect(answer.statusCode, cursor).toBe(400);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.json().code).toBe('INVALID_CURSOR');
      // Like every problem, it says what is wrong.
      expect(answer.json().detail, cursor).toMatch(/cursor/);
    }
  });
});
