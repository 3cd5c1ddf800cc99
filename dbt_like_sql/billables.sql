-- billables: billable entries with their rate, exact value, and billed time after the per-entry rules.
-- Time is counted in integer "time units" (tu): 1 tu = 1 microminute = 1/60,000,000 h, so hours with six
-- decimals and every minute increment are exact integers (no division, no floats).
-- Per-entry rules, in order: minimum billed minutes, rounding when the scope is 'entry', retainer drawdown
-- (hours covered by a project's retainer fee are not billed again; the rest is overage).
-- Rules resolve project > client > entity (parameters $r_* and $unit/$hours_per_day are the entity's).
-- Sources: clean_time_entries, map_clients, map_projects. Parameters: $grouping, $revision, $r_increment,
-- $r_mode, $r_scope, $r_minimum, $unit, $hours_per_day.
WITH b AS (
    SELECT
        c.*,
        coalesce(mp.r_increment, mc.r_increment, $r_increment) AS r_increment,
        coalesce(mp.r_mode, mc.r_mode, $r_mode) AS r_mode,
        coalesce(mp.r_scope, mc.r_scope, $r_scope) AS r_scope,
        coalesce(mp.r_minimum, mc.r_minimum, $r_minimum) AS r_minimum,
        coalesce(mp.unit, mc.unit, $unit) AS unit,
        CAST(coalesce(mp.hours_per_day, mc.hours_per_day, $hours_per_day) AS DECIMAL(6, 2)) AS hours_per_day,
        mp.retainer_hours,
        CAST(CAST(c.hours AS DECIMAL(18, 6)) * 60000000 AS BIGINT) AS worked_tu
    FROM clean_time_entries AS c
    LEFT JOIN map_projects AS mp ON mp.project_id = c.project_id
    LEFT JOIN (SELECT DISTINCT client_id, r_increment, r_mode, r_scope, r_minimum, unit, hours_per_day
               FROM map_clients) AS mc ON mc.client_id = c.client_id
    WHERE c.disposition = 'billable'
),
floored AS (
    SELECT
        b.*,
        greatest(b.worked_tu, CAST(b.r_minimum AS BIGINT) * 1000000) AS min_tu,
        CAST(b.r_increment AS BIGINT) * 1000000 AS inc_tu
    FROM b
),
entry_rounded AS (
    SELECT
        f.*,
        CASE
            WHEN f.r_scope <> 'entry' OR f.inc_tu IS NULL THEN f.min_tu
            WHEN f.r_mode = 'up' THEN ((f.min_tu + f.inc_tu - 1) // f.inc_tu) * f.inc_tu
            WHEN f.r_mode = 'down' THEN (f.min_tu // f.inc_tu) * f.inc_tu
            ELSE ((f.min_tu + f.inc_tu // 2) // f.inc_tu) * f.inc_tu
        END AS rounded_tu
    FROM floored AS f
),
drawn AS (
    -- only retainer projects pay for the running sum
    SELECT e.*, CAST(0 AS BIGINT) AS retainer_tu FROM entry_rounded AS e WHERE e.retainer_hours IS NULL
    UNION ALL BY NAME
    SELECT
        e.*,
        least(e.rounded_tu, greatest(
            CAST(CAST(e.retainer_hours AS DECIMAL(18, 6)) * 60000000 AS BIGINT)
            - (sum(e.rounded_tu) OVER (PARTITION BY e.project_id ORDER BY e.spent_date, e.entry_id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - e.rounded_tu),
            0)) AS retainer_tu
    FROM entry_rounded AS e
    WHERE e.retainer_hours IS NOT NULL
)
SELECT
    drawn.entity,
    drawn.period,
    entry_id,
    k.invoice_key,
    drawn.client_id,
    client_name,
    project_id,
    project_name,
    task_id,
    task_name,
    user_id,
    spent_date,
    currency,
    invoice_currency,
    hours,
    rate,
    list_rate,
    billable_percent,
    rate_source,
    approved_by,
    approved_at,
    CAST(CAST(hours AS DECIMAL(38, 6)) * rate AS DECIMAL(38, 12)) AS value,
    worked_tu,
    CAST(rounded_tu - retainer_tu AS BIGINT) AS billed_tu,
    CAST(retainer_tu AS BIGINT) AS retainer_tu,
    r_scope AS rounding_scope,
    inc_tu AS rounding_increment_tu,
    r_mode AS rounding_mode,
    unit,
    hours_per_day
FROM drawn
JOIN (
    -- the invoice's business key (sync_pipeline.domain.ids.invoice_key), once per client
    SELECT client_id AS k_client,
           'inv_' || left(sha256(concat_ws(chr(31), any_value(entity), client_id, any_value(period), $grouping,
                                           $revision)), 16) AS invoice_key
    FROM clean_time_entries WHERE disposition = 'billable' GROUP BY client_id
) AS k ON k.k_client = drawn.client_id
