-- raw_window_changes: how a complete re-read of an extraction window differs from the stored extract of the
-- same window, one row per entry that was deleted, added or edited at the source. Harvest has no deletion
-- feed, so an entry missing from the re-read is a deletion.
-- Sources: previous_extract, current_extract (entry_id, updated_at of each; previous may be empty).
SELECT
    coalesce(c.entry_id, p.entry_id) AS entry_id,
    CASE WHEN c.entry_id IS NULL THEN 'deleted' WHEN p.entry_id IS NULL THEN 'added' ELSE 'edited' END AS change
FROM previous_extract AS p
FULL OUTER JOIN current_extract AS c ON c.entry_id = p.entry_id
WHERE c.entry_id IS NULL OR p.entry_id IS NULL OR c.updated_at IS DISTINCT FROM p.updated_at
