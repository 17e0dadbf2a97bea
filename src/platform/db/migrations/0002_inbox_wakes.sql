-- Inbox wake-ups: consumers are woken when events arrive and when an event is made pending again
-- (a dead letter replayed). The consumer's own updates (processed, a failure recorded, parked) no
-- longer wake it: each used to cost an empty round of the consumer loop.
DROP TRIGGER {{inbox}}_notify ON {{inbox}};
CREATE TRIGGER {{inbox}}_notify AFTER INSERT ON {{inbox}}
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_notify_channel('bazaar_inbox');
CREATE TRIGGER {{inbox}}_notify_pending AFTER UPDATE OF status ON {{inbox}}
  FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending')
  EXECUTE FUNCTION bazaar_notify_channel('bazaar_inbox');
