import { errorMessage } from '../../platform/error-message.ts';
import type { NotificationFailedV1, NotificationSentV1 } from '../../contracts/notifications.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { retryDelayMs } from '../../platform/messaging/consumer.ts';
import { type NewEvent, appendEvents } from '../../platform/messaging/outbox.ts';
import type { NotificationsDeps } from './deps.ts';
import { ProviderError, sendWithin } from './provider.ts';
import { type DueRow, type Outcome, type RecordedOutcome, claimDue, recordOutcomes } from './sql.ts';

const LAST_ERROR_LENGTH_MAX = 2000;

/**
 * How long an email waits for its user's address (the accounts domain's registration event) before
 * it is failed. Nothing is sent meanwhile, so no attempt is counted: an accounts relay held up for
 * minutes no longer costs the buyer their order emails (found by an audit: the six attempts were
 * spent in about a minute). A user who never registers (a seller id with no account) fails then.
 */
export const ADDRESS_WAIT_MS = 24 * 3600_000;
const NO_ADDRESS_YET = 'no email address is known for the user yet';

/** What an outcome names of the claim it is of (see Outcome). */
const claimOf = (row: DueRow) => ({ id: row.id, attempts: row.attempts, leaseUntil: row.lease_until });

/**
 * Sends the pending notifications (every channel but in_app) through their providers. A round
 * claims the due ones (their attempt counted, held for `leaseMs`), sends them concurrently, each
 * bounded by `sendTimeoutMs`, then records every outcome in one transaction with its events:
 * sent (sent_at, notifications.notification_sent.v1); failed for good after `attemptsMax` attempts
 * or a permanent refusal (notifications.notification_failed.v1); otherwise due again after a capped
 * exponential backoff with jitter. All times come from the injected clock, so tests move it instead
 * of waiting. A worker that dies mid-round leaves its notifications to be claimed again when the
 * lease ends; the provider then sees the same idempotency key.
 */
export class DeliveryWorker {
  constructor(readonly deps: NotificationsDeps) {}

  /** One round; true when the batch was full (more may be due). */
  async runOnce(): Promise<boolean> {
    const { pool, clock, delivery } = this.deps;
    const now = clock.now();
    const claimed = await claimDue(pool, now, new Date(now.getTime() + delivery.leaseMs), delivery.batchSizeMax);
    if (claimed.length === 0) return false;
    const outcomes = await Promise.all(claimed.map((row) => this.#attempt(row)));
    const at = clock.now();
    await withTransaction(pool, async (tx) => {
      const recorded = await recordOutcomes(tx, outcomes);
      // A delivery round is caused by no request or event: its events start traces of their own.
      await appendEvents(tx, 'notifications', recorded.flatMap((r) => eventOf(r, at)), null, at);
    });
    return claimed.length === delivery.batchSizeMax;
  }

  async #attempt(row: DueRow): Promise<Outcome> {
    const { providers, delivery, clock, log } = this.deps;
    try {
      const provider = providers.get(row.channel);
      if (!provider) throw new ProviderError(`no provider is configured for ${row.channel}`);
      const to = row.channel === 'email' ? row.email : row.user_id;
      // An email needs the address accounts announced; it may simply not have arrived yet.
      if (!to) return this.#waitForAddress(row);
      await sendWithin(
        provider,
        { channel: row.channel, to, subject: row.payload_json.title, body: row.payload_json.body, idempotencyKey: row.id },
        delivery.sendTimeoutMs,
      );
      return { ...claimOf(row), counted: true, status: 'sent', sentAt: clock.now(), nextAttemptAt: null, lastError: null };
    } catch (error) {
      const message = errorMessage(error, LAST_ERROR_LENGTH_MAX);
      const permanent = error instanceof ProviderError && error.permanent;
      if (!(error instanceof ProviderError)) log.error({ err: error, notificationId: row.id }, 'notification provider failed unexpectedly');
      if (permanent || row.attempts >= delivery.attemptsMax) {
        log.warn({ notificationId: row.id, channel: row.channel, attempts: row.attempts, error: message }, 'notification delivery gave up');
        return { ...claimOf(row), counted: true, status: 'failed', sentAt: null, nextAttemptAt: null, lastError: message };
      }
      const delay = retryDelayMs(row.attempts, delivery.retryDelayBaseMs, delivery.retryDelayMaxMs, this.deps.random);
      return { ...claimOf(row), counted: true, status: 'pending', sentAt: null, nextAttemptAt: new Date(clock.now().getTime() + delay), lastError: message };
    }
  }

  /** Looked again after as long as it has waited (within the retry delays), until ADDRESS_WAIT_MS; no attempt is counted. */
  #waitForAddress(row: DueRow): Outcome {
    const { clock, delivery, log } = this.deps;
    const now = clock.now().getTime();
    const waited = now - row.created_at.getTime();
    if (waited >= ADDRESS_WAIT_MS) {
      const lastError = `no email address arrived for the user within ${ADDRESS_WAIT_MS / 3600_000} hours`;
      log.warn({ notificationId: row.id, channel: row.channel }, lastError);
      return { ...claimOf(row), counted: false, status: 'failed', sentAt: null, nextAttemptAt: null, lastError };
    }
    const delay = Math.min(delivery.retryDelayMaxMs, Math.max(delivery.retryDelayBaseMs, waited));
    return { ...claimOf(row), counted: false, status: 'pending', sentAt: null, nextAttemptAt: new Date(now + delay), lastError: NO_ADDRESS_YET };
  }
}

function eventOf(r: RecordedOutcome, at: Date): NewEvent[] {
  const facts = { notificationId: r.id, userId: r.user_id, notificationType: r.type, channel: r.channel, sourceEventId: r.source_event_id, attempts: r.attempts };
  if (r.status === 'sent' && r.sent_at) {
    const data: NotificationSentV1 = { ...facts, sentAt: r.sent_at.toISOString() };
    return [{ type: 'notifications.notification_sent.v1', aggregateId: r.id, aggregateType: 'notification', data }];
  }
  if (r.status === 'failed') {
    const data: NotificationFailedV1 = { ...facts, lastError: r.last_error ?? 'unknown error', failedAt: at.toISOString() };
    return [{ type: 'notifications.notification_failed.v1', aggregateId: r.id, aggregateType: 'notification', data }];
  }
  return [];
}
