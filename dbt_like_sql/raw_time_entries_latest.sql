-- raw_time_entries as stored: the newest version of each entry among the pages streamed from the source (an
-- entry edited while we paged comes twice), ordered by id so that re-extracting an unchanged window writes
-- the same file.
-- Sources: raw_pages (the pages as streamed by services.extract, every column of the raw_time_entries contract).
SELECT *
FROM raw_pages
QUALIFY row_number() OVER (PARTITION BY entry_id ORDER BY updated_at DESC) = 1
ORDER BY entry_id
