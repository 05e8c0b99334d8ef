-- 0017: new messages counted by the statement that inserts them, not by a trigger per row
-- (issue 19).
--
-- `folder_counts_insert` (0016) ran a trigger program for every inserted row: about 4 µs a
-- row, a sixth of the SQLite thread's time in a header sync, even where its WHEN clause was
-- false (the program is entered for every row either way). Messages enter `messages` in two
-- places, both in core::store: the multi-row insert of new UIDs (`messages::insert_fresh`),
-- which now adds its rows to `folder_counts` in one UPDATE per window, and the JSON upsert of
-- UIDs already stored (`upsert::upsert_json`), which first counts the rows of its batch that
-- are not stored yet and adds those. Deletes and updates keep their triggers: they run per
-- changed row only, and a delta changes few.

DROP TRIGGER folder_counts_insert;
