import { type ExactInteger, type Queryable, exactInteger } from '../../platform/db/pool.ts';
import { type Statement, guarded } from '../../platform/db/statements.ts';
import { newId } from '../../platform/ids.ts';

/**
 * The double-entry ledger, the source of truth for money. Every money movement posts one journal
 * whose entries balance (the database checks it again at commit). Accounts:
 *
 * - gateway_clearing (asset): money the gateway holds for us; debited on capture, credited on refund.
 * - seller_payable:<sellerId> (liability): what the platform owes a seller; credited on capture
 *   (the allocation minus commission), debited on refund.
 * - platform_commission (revenue): the platform's commission; credited on capture, debited on refund.
 */
export const GATEWAY_CLEARING = 'gateway_clearing';
export const PLATFORM_COMMISSION = 'platform_commission';
export const sellerPayable = (sellerId: string): string => `seller_payable:${sellerId}`;

export type AccountKind = 'asset' | 'liability' | 'revenue' | 'expense' | 'equity';

interface AccountSpec {
  account: string;
  kind: AccountKind;
  ownerId: string | null;
  mayGoNegative: boolean;
}

export function accountSpec(account: string): AccountSpec {
  if (account === GATEWAY_CLEARING) return { account, kind: 'asset', ownerId: null, mayGoNegative: false };
  if (account === PLATFORM_COMMISSION) return { account, kind: 'revenue', ownerId: null, mayGoNegative: false };
  const seller = /^seller_payable:([0-9a-f-]{36})$/.exec(account);
  if (seller) return { account, kind: 'liability', ownerId: seller[1] as string, mayGoNegative: false };
  throw new Error(`unknown ledger account ${account}`);
}

export interface LedgerEntry {
  account: string;
  debit?: number;
  credit?: number;
  /** What moved the money, finer than the journal's reference when useful (an allocation). */
  referenceId: string;
}

export interface Journal {
  kind: 'payment_captured' | 'refund_succeeded';
  referenceId: string;
  currency: string;
  description: string;
  entries: LedgerEntry[];
}

/**
 * Posts a journal once per (kind, reference): a second post of the same movement is a no-op and
 * answers false. Zero entries are dropped; the rest must balance (a programmer error otherwise).
 */
export async function postJournal(tx: Queryable, journal: Journal): Promise<boolean> {
  const [accounts, header, entries] = journalStatements(journal, 'w1');
  // One statement: the accounts (made on first use), the journal (once per kind and reference) and
  // its entries, written only if the journal was new. The balance trigger checks it at commit.
  const inserted = await tx.query(...guarded([accounts, header, entries], 'SELECT count(*)::int AS n FROM w2'));
  return (inserted.rows[0] as { n: number } | undefined)?.n !== 0;
}

/**
 * A journal as three statements to run as CTEs of one statement (see guarded): the accounts (made
 * on first use), the journal header (once per kind and reference, RETURNING its id) and its entries,
 * which read the header's CTE (its `wN` name among them, `headerCte`), so they are written only if
 * the journal is new. Zero entries are dropped; the rest must balance (a programmer error otherwise).
 */
export function journalStatements(journal: Journal, headerCte: string): [Statement, Statement, Statement] {
  if (!/^w\d+$/.test(headerCte)) throw new Error(`invalid CTE name ${headerCte}`);
  const entries = journal.entries.filter((e) => (e.debit ?? 0) > 0 || (e.credit ?? 0) > 0);
  const debits = entries.reduce((s, e) => s + (e.debit ?? 0), 0);
  const credits = entries.reduce((s, e) => s + (e.credit ?? 0), 0);
  if (entries.length < 2 || debits !== credits) {
    throw new Error(`journal ${journal.kind} ${journal.referenceId} does not balance: debits ${debits}, credits ${credits}`);
  }
  const specs = [...new Set(entries.map((e) => e.account))].map(accountSpec);
  return [
    {
      text: `INSERT INTO ledger_accounts (account, kind, may_go_negative, owner_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::uuid[])
       ON CONFLICT (account) DO NOTHING`,
      values: [specs.map((s) => s.account), specs.map((s) => s.kind), specs.map((s) => s.mayGoNegative), specs.map((s) => s.ownerId)],
    },
    {
      text: `INSERT INTO ledger_journals (id, kind, reference_id, currency, description)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (kind, reference_id) DO NOTHING
       RETURNING id`,
      values: [newId(), journal.kind, journal.referenceId, journal.currency, journal.description.slice(0, 500)],
    },
    {
      text: `INSERT INTO ledgers (id, journal_id, account, debit, credit, currency, reference_id)
       SELECT e.id, j.id, e.account, e.debit, e.credit, $1, e.reference_id
         FROM ${headerCte} j
         CROSS JOIN unnest($2::uuid[], $3::text[], $4::bigint[], $5::bigint[], $6::uuid[]) AS e(id, account, debit, credit, reference_id)
       RETURNING id`,
      values: [
        journal.currency,
        entries.map(() => newId()),
        entries.map((e) => e.account),
        entries.map((e) => e.debit ?? 0),
        entries.map((e) => e.credit ?? 0),
        entries.map((e) => e.referenceId),
      ],
    },
  ];
}

/** What the ledger says about one allocation: commission charged and given back, refunds posted. */
export async function allocationLedger(
  db: Queryable,
  allocationId: string,
): Promise<{ commissionCharged: number; commissionReversed: number; refunded: number }> {
  const { rows } = await db.query<{ charged: number; reversed: number; refunded: number }>(
    `SELECT coalesce(sum(credit) FILTER (WHERE account = $2), 0)::bigint AS charged,
            coalesce(sum(debit) FILTER (WHERE account = $2), 0)::bigint AS reversed,
            coalesce(sum(credit) FILTER (WHERE account = $3), 0)::bigint AS refunded
       FROM ledgers WHERE reference_id = $1`,
    [allocationId, PLATFORM_COMMISSION, GATEWAY_CLEARING],
  );
  const row = rows[0];
  return { commissionCharged: row?.charged ?? 0, commissionReversed: row?.reversed ?? 0, refunded: row?.refunded ?? 0 };
}

export interface AccountBalance {
  account: string;
  kind: AccountKind;
  currency: string;
  /** Sums over the account's whole life: exact, beyond 2^53 too. */
  debits: ExactInteger;
  credits: ExactInteger;
  /** On the account's normal side: debits − credits for assets and expenses, credits − debits otherwise. */
  balance: ExactInteger;
}

const NORMAL_DEBIT = "a.kind IN ('asset', 'expense')";

/** Balances per account and currency, in (account, currency) order after `after`. */
export async function accountBalances(
  db: Queryable,
  options: { limit: number; after?: { account: string; currency: string }; account?: string; ownerId?: string },
): Promise<AccountBalance[]> {
  const { rows } = await db.query<Omit<AccountBalance, 'debits' | 'credits' | 'balance'> & { debits: string; credits: string; balance: string }>(
    `SELECT a.account, a.kind, l.currency,
            sum(l.debit)::text AS debits, sum(l.credit)::text AS credits,
            (CASE WHEN ${NORMAL_DEBIT} THEN sum(l.debit) - sum(l.credit) ELSE sum(l.credit) - sum(l.debit) END)::text AS balance
       FROM ledger_accounts a JOIN ledgers l ON l.account = a.account
      WHERE ($1::text IS NULL OR (a.account, l.currency) > ($1::text, $5::text))
        AND ($2::text IS NULL OR a.account = $2)
        AND ($3::uuid IS NULL OR a.owner_id = $3)
      GROUP BY a.account, a.kind, l.currency
      ORDER BY a.account, l.currency
      LIMIT $4`,
    [options.after?.account ?? null, options.account ?? null, options.ownerId ?? null, options.limit, options.after?.currency ?? ''],
  );
  return rows.map((r) => ({ ...r, debits: exactInteger(r.debits), credits: exactInteger(r.credits), balance: exactInteger(r.balance) }));
}
