-- raw_time_entries as stored: the newest version of each entry among the pages streamed from the source (an
-- entry edited while we paged comes twice; of two versions with the same updated_at, the later page's),
-- in the order the source sent them. Only the narrow (entry_id, updated_at, row number) projection is
-- windowed, so memory does not grow with the width of the rows; no sort of the whole extract.
-- Sources: raw_pages (the pages as streamed by services.extract, every column of the raw_time_entries contract
-- plus file_row_number, the row's position in the streamed file).
SELECT * EXCLUDE (file_row_number)
FROM raw_pages
WHERE file_row_number IN (
    SELECT file_row_number
    FROM (
        SELECT
            file_row_number,
            row_number() OVER (PARTITION BY entry_id ORDER BY updated_at DESC, file_row_number DESC) AS newest
        FROM raw_pages
    )
    WHERE newest = 1
)
