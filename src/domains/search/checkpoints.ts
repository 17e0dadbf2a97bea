import type { DomainName } from '../../platform/domains.ts';
import type { ReadModelHooks, ReplayContext } from '../../platform/messaging/subscription.ts';

/**
 * The read_model_checkpoints part of a rebuild, the same for every read model of this domain: the
 * model is marked rebuilding (per source) when its tables are emptied, the position reached in
 * each source's log is noted as batches are applied, and it is marked live when the replay is done.
 */
export function readModelHooks(name: string, description: string, tables: readonly string[]): ReadModelHooks {
  return {
    name,
    description,
    async reset({ tx, sources }: ReplayContext) {
      await tx.query(`TRUNCATE ${tables.join(', ')}`);
      await tx.query(
        `INSERT INTO read_model_checkpoints (read_model, source, status, last_seq, last_event_id, rebuild_started_at, rebuilt_at, updated_at)
         SELECT $1, s, 'rebuilding', NULL, NULL, now(), NULL, now() FROM unnest($2::text[]) AS s
         ON CONFLICT (read_model, source) DO UPDATE
           SET status = 'rebuilding', last_seq = NULL, last_event_id = NULL, rebuild_started_at = now(), rebuilt_at = NULL, updated_at = now()`,
        [name, sources],
      );
    },
    async progress({ tx }: ReplayContext, source: DomainName, lastSeq: number, lastEventId: string) {
      await tx.query(
        'UPDATE read_model_checkpoints SET last_seq = $3, last_event_id = $4, updated_at = now() WHERE read_model = $1 AND source = $2',
        [name, source, lastSeq, lastEventId],
      );
    },
    async finish({ tx }: ReplayContext) {
      await tx.query("UPDATE read_model_checkpoints SET status = 'live', rebuilt_at = now(), updated_at = now() WHERE read_model = $1", [name]);
    },
  };
}
