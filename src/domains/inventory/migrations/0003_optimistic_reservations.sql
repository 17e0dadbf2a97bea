-- inventory_db, migration 0003: multi-item reservations in one statement.
--
-- A reservation of several items is planned from a read of the items without a lock and written
-- by one statement whose UPDATE applies to an item only if it is still at the version read. Some
-- items may have moved meanwhile: the statement then must write nothing at all. This function,
-- called last in that statement with the number of items updated and the number planned, aborts
-- the whole statement (every row it wrote) with a serialization failure, which the caller retries
-- from a fresh read.
CREATE FUNCTION inventory_all_or_none(updated integer, planned integer) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  IF updated <> planned THEN
    RAISE EXCEPTION 'stock items changed since they were read (% of % still as read)', updated, planned USING ERRCODE = '40001';
  END IF;
  RETURN updated;
END;
$$;
COMMENT ON FUNCTION inventory_all_or_none(integer, integer) IS
  'Aborts the statement that calls it (SQLSTATE 40001) unless every planned item was updated: all or nothing in one statement.';
