-- clean_time_entries: every raw entry of the partition, typed, with exactly one disposition
-- (billable | non_billable | held | quarantined) and, unless billable, the reason.
-- Sources: raw_time_entries. Parameters: $entity, $period, $period_start, $period_end, $today,
-- $require_approval, $currencies.
WITH typed AS (
    SELECT
        r.*,
        TRY_CAST(r.spent_date AS DATE) AS d
    FROM raw_time_entries AS r
),
reasoned AS (
    SELECT
        t.*,
        CASE
            WHEN t.d IS NULL THEN 'invalid spent_date ' || coalesce(t.spent_date, 'null')
            WHEN t.d > CAST($today AS DATE) THEN 'future date ' || t.spent_date
            WHEN t.d < CAST($period_start AS DATE) OR t.d > CAST($period_end AS DATE)
                THEN 'spent_date ' || t.spent_date || ' outside billing period ' || $period
            WHEN t.hours IS NULL OR t.hours <= 0 THEN 'non-positive hours ' || coalesce(CAST(t.hours AS VARCHAR), 'null')
            WHEN t.hours > 24 THEN 'over 24 hours in one entry (' || CAST(t.hours AS VARCHAR) || ')'
            WHEN t.client_id IS NULL THEN 'unknown client'
            WHEN t.project_id IS NULL THEN 'unknown project'
            WHEN t.task_id IS NULL THEN 'unknown task'
            WHEN t.client_currency IS NULL OR NOT list_contains($currencies, t.client_currency)
                THEN 'unknown currency ' || coalesce(t.client_currency, 'null')
            WHEN t.billable AND t.billable_rate IS NULL THEN 'missing rate'
        END AS quarantine_reason
    FROM typed AS t
)
SELECT
    $entity AS entity,
    $period AS period,
    entry_id,
    spent_date,
    client_id,
    client_name,
    project_id,
    project_name,
    task_id,
    task_name,
    user_id,
    user_name,
    client_currency AS currency,
    hours,
    billable_rate AS rate,
    CASE
        WHEN quarantine_reason IS NOT NULL THEN 'quarantined'
        WHEN NOT billable THEN 'non_billable'
        WHEN $require_approval AND NOT is_closed THEN 'held'
        ELSE 'billable'
    END AS disposition,
    CASE
        WHEN quarantine_reason IS NOT NULL THEN quarantine_reason
        WHEN NOT billable THEN 'marked non-billable in the project system'
        WHEN $require_approval AND NOT is_closed THEN 'awaiting approval'
    END AS reason
FROM reasoned
ORDER BY entry_id
