-- A retention run now says which event types it deleted, each with the highest seq it deleted of
-- that type: a read model's rebuild is refused only when events of a type it replays are gone, not
-- when a run deleted, say, cart events it never reads. Runs recorded before this column have it
-- null, and count as having deleted every type up to their up_to_seq.
ALTER TABLE {{outbox_prunes}} ADD COLUMN event_types jsonb CHECK (event_types IS NULL OR jsonb_typeof(event_types) = 'object');
COMMENT ON COLUMN {{outbox_prunes}}.event_types IS 'Per event type the run deleted, the highest seq it deleted of that type ({"<type>": seq}); null for runs recorded before it was kept (taken as every type).';
