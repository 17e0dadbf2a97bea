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
      // An email needs the address accounts announced; it may simply not have arrived yet.
      const to = row.channel === 'email' ? row.email : row.user_id;
      if (!to) throw new ProviderError('no email address is known for the user yet');
      await sendWithin(
        provider,
        { channel: row.channel, to, subject: row.payload_json.title, body: row.payload_json.body, idempotencyKey: row.id },
        delivery.sendTimeoutMs,
      );
      return { id: row.id, attempts: row.attempts, status: 'sent', sentAt: clock.now(), nextAttemptAt: null, lastError: null };
    } catch (error) {
      const message = errorMessage(error, LAST_ERROR_LENGTH_MAX);
      const permanent = error instanceof ProviderError && error.permanent;
      if (!(error instanceof ProviderError)) log.error({ err: error, notificationId: row.id }, 'notification provider failed unexpectedly');
      if (permanent || row.attempts >= delivery.attemptsMax) {
        log.warn({ notificationId: row.id, channel: row.channel, attempts: row.attempts, error: message }, 'notification delivery gave up');
        return { id: row.id, attempts: row.attempts, status: 'failed', sentAt: null, nextAttemptAt: null, lastError: message };
      }
      const delay = retryDelayMs(row.attempts, delivery.retryDelayBaseMs, delivery.retryDelayMaxMs, this.deps.random);
      return { id: row.id, attempts: row.attempts, status: 'pending', sentAt: null, nextAttemptAt: new Date(clock.now().getTime() + delay), lastError: message };
    }
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
