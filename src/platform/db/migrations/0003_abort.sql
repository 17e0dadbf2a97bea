-- bazaar_abort(reason): fails the statement that evaluates it, with SQLSTATE BZ002 and the reason
-- as the message. A one-statement write guards itself with it (CASE WHEN <refused> THEN
-- bazaar_abort('<reason>') END) where a refusal must undo what the statement and its transaction
-- did, e.g. when the COMMIT travels in the same message (commitWith in src/platform/db/pool.ts).
CREATE FUNCTION bazaar_abort(reason text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION '%', reason USING ERRCODE = 'BZ002';
END;
$$;
COMMENT ON FUNCTION bazaar_abort(text) IS 'Fails the calling statement with SQLSTATE BZ002 and the given reason: a refusal decided inside one statement.';
