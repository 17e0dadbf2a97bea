-- The outbox guard ran PL/pgSQL on every row the relay marked published and compared the two rows
-- by turning each into jsonb (the event's payload with it): about half of the relay's claim. The
-- update that is allowed (published_at set once, nothing else changed) is now recognised by the
-- trigger's WHEN condition, which PostgreSQL evaluates without calling the function; the function
-- still runs, and refuses, for any other update, and for every DELETE (retention runs only).
DROP TRIGGER {{outbox}}_guard ON {{outbox}};
CREATE TRIGGER {{outbox}}_guard BEFORE UPDATE ON {{outbox}}
  FOR EACH ROW
  WHEN (OLD.published_at IS NOT NULL OR NEW.published_at IS NULL
        OR ROW(NEW.id, NEW.seq, NEW.aggregate_id, NEW.aggregate_type, NEW.event_type, NEW.payload, NEW.headers, NEW.created_at)
           IS DISTINCT FROM ROW(OLD.id, OLD.seq, OLD.aggregate_id, OLD.aggregate_type, OLD.event_type, OLD.payload, OLD.headers, OLD.created_at))
  EXECUTE FUNCTION bazaar_outbox_guard();
CREATE TRIGGER {{outbox}}_guard_delete BEFORE DELETE ON {{outbox}}
  FOR EACH ROW EXECUTE FUNCTION bazaar_outbox_guard();
