import type { ReservationLineFacts } from '../../contracts/inventory.ts';
import { type Tx, commitWith } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, appendEvents, outboxInsert } from '../../platform/messaging/outbox.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow, levelOf } from './stock-item.ts';

/** One reservation line whose units leave the reserved quantity. */
export interface ReservedLine {
  reservationId: string;
  stockItemId: string;
  quantity: number;
}

/**
 * 'return': the units go back to available (release, expiry). 'sell': they leave reserved and total
 * for good, with a 'sale' movement per line (confirm). Returns, per line in the given order, the
 * item's quantities right after that line, as the events report them; and the items after all.
 * The items are locked, then written with their movements and the events `eventsOf` makes from
 * those facts in ONE statement: other checkouts wait for these rows only until the commit that
 * follows, so callers do this last in their transaction. With `commit` (a withTransaction
 * transaction of the caller's own), the COMMIT goes with that statement (commitWith), and nothing
 * may run in the transaction after it.
 */
export async function moveReservedStock(
  tx: Tx,
  lines: readonly ReservedLine[],
  mode: 'return' | 'sell',
  now: Date,
  trace: Trace | null,
  eventsOf: (facts: ReservationLineFacts[], items: StockItemRow[]) => NewEvent[] = () => [],
  commit = false,
  /** The items, when the caller locked them already (in id order) in this transaction. */
  locked?: readonly StockItemRow[],
): Promise<{ facts: ReservationLineFacts[]; items: StockItemRow[] }> {
  if (lines.length === 0) {
    await appendEvents(tx, 'inventory', eventsOf([], []), trace, now);
    return { facts: [], items: [] };
  }
  const ids = [...new Set(lines.map((l) => l.stockItemId))];
  // Items locked in id order, like every other path that locks several items.
  const rows =
    locked ?? (await tx.query<StockItemRow>(`SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [ids])).rows;
  const state = new Map(rows.map((r) => [r.id, { ...r }]));
  const sums = new Map<string, { quantity: number; changes: number }>();
  const facts = lines.map((l) => {
    const item = state.get(l.stockItemId);
    if (!item) throw new Error(`reservation line refers to a missing stock item ${l.stockItemId}`);
    item.reserved_quantity -= l.quantity;
    if (mode === 'return') item.available_quantity += l.quantity;
    else item.total_quantity -= l.quantity;
    item.version += 1;
    const sum = sums.get(l.stockItemId) ?? { quantity: 0, changes: 0 };
    sum.quantity += l.quantity;
    sum.changes += 1;
    sums.set(l.stockItemId, sum);
    return { ...levelOf(item), quantity: l.quantity };
  });
  const set =
    mode === 'return'
      ? 'available_quantity = s.available_quantity + r.quantity, reserved_quantity = s.reserved_quantity - r.quantity'
      : 'total_quantity = s.total_quantity - r.quantity, reserved_quantity = s.reserved_quantity - r.quantity';
  const entries = [...sums];
  const items = [...state.values()];
  const sale = mode === 'sell';
  const outbox = outboxInsert('inventory', eventsOf(facts, items), 11, trace, now);
  // Unique per (item, 'sale', reservation): a sale is recorded once whatever retries happen. A
  // locked item that is gone fails the statement (bazaar_abort), so its COMMIT never runs.
  const text = `WITH moved AS (
       UPDATE stock_items s SET ${set}, version = s.version + r.changes, updated_at = $4
         FROM unnest($1::uuid[], $2::int[], $3::int[]) AS r(id, quantity, changes)
        WHERE s.id = r.id
       RETURNING s.id
     ), sales AS (
       INSERT INTO stock_movements (id, stock_item_id, change, kind, reason, reference_id, created_at)
       SELECT m.id, m.stock_item_id, -m.quantity, 'sale', 'reservation confirmed', m.reservation_id, $4
         FROM unnest($5::uuid[], $6::uuid[], $7::int[], $8::uuid[]) AS m(id, stock_item_id, quantity, reservation_id)
        WHERE $9::boolean
     ), events AS (${outbox.sql})
     SELECT CASE WHEN count(*) <> $10 THEN bazaar_abort('a locked stock item disappeared') END FROM moved`;
  const values = [
    entries.map(([id]) => id),
    entries.map(([, x]) => x.quantity),
    entries.map(([, x]) => x.changes),
    now,
    lines.map(() => newId()),
    lines.map((l) => l.stockItemId),
    lines.map((l) => l.quantity),
    lines.map((l) => l.reservationId),
    sale,
    entries.length,
    ...outbox.values,
  ];
  if (commit) await commitWith(tx, text, values);
  else await tx.query(text, values);
  return { facts, items };
}
