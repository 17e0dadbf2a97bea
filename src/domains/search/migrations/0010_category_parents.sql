-- search_db, migration 0010: a category move replayed late (a dead letter) no longer brings back the
-- ancestors a newer move replaced. The parent of each category, as the newest move event that names
-- it says (a move's path gives every category on it its parent then), is kept with that event's
-- time; a move then gives the products under the moved category the path these parents make, so a
-- move more than 5 minutes older than the newest naming a category changes nothing that one set. A
-- new table: nothing is rewritten.
CREATE TABLE search_category_parents (
  category_id uuid PRIMARY KEY,
  parent_id uuid,
  as_of timestamptz NOT NULL
);
COMMENT ON TABLE search_category_parents IS 'Added (not in design): the parent of each category named on the path of a category move (products.category_updated.v1 with parentId among its changed fields), as of the newest such event: a move more than 5 minutes older than the fact a category holds (a dead letter replayed late) does not change it; within those minutes (servers'' clocks may disagree a little) the move applied last wins, as in order. Part of the product_search read model (rebuilt with it).';
COMMENT ON COLUMN search_category_parents.category_id IS 'Category (products domain id).';
COMMENT ON COLUMN search_category_parents.parent_id IS 'Its parent as of as_of; null: a root.';
COMMENT ON COLUMN search_category_parents.as_of IS 'updatedAt of the newest move event that named the category (it never moves back).';
