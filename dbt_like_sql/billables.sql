-- billables: billable entries with their rate and unrounded value (hours x rate, exact decimal).
-- Sources: clean_time_entries.
SELECT
    entity,
    period,
    entry_id,
    client_id,
    client_name,
    project_id,
    project_name,
    task_id,
    task_name,
    user_id,
    spent_date,
    currency,
    CAST(hours AS DECIMAL(12, 6)) AS hours,
    CAST(rate AS DECIMAL(18, 6)) AS rate,
    CAST(hours * rate AS DECIMAL(24, 8)) AS value
FROM clean_time_entries
WHERE disposition = 'billable'
ORDER BY entry_id
