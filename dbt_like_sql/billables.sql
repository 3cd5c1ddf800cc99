-- billables: billable entries with their rate, exact value, and billed time after the per-entry rules.
-- Time is counted in integer "time units" (tu): 1 tu = 1 microminute = 1/60,000,000 h, so hours with six
-- decimals and every minute increment are exact integers (no division, no floats).
-- Per-entry rules, in order: minimum billed minutes, rounding when the scope is 'entry', retainer drawdown
-- (hours covered by a project's retainer fee are not billed again; the rest is overage).
-- Rules resolve project > client > entity (parameters $r_* and $unit/$hours_per_day are the entity's).
-- Sources: clean_time_entries, map_clients, map_projects. Parameters: $grouping, $revision, $r_increment,
-- $r_mode, $r_scope, $r_minimum, $unit, $hours_per_day.
-- Retainer drawdown needs a running sum over the entries of retainer projects only: it reads
-- clean_time_entries again with those few columns (`retainer`) and is joined back on entry_id. (Referring to
-- the wide per-entry CTE twice would make DuckDB buffer every billable entry with all its columns.)
-- The rounding arithmetic is the macro billing_round_tu (dbt_like_sql/macros/billing.sql), shared by both.
WITH b AS (
    SELECT
        c.*,
        coalesce(mp.r_increment, mc.r_increment, $r_increment) AS r_increment,
        coalesce(mp.r_mode, mc.r_mode, $r_mode) AS r_mode,
        coalesce(mp.r_scope, mc.r_scope, $r_scope) AS r_scope,
        coalesce(mp.r_minimum, mc.r_minimum, $r_minimum) AS r_minimum,
        coalesce(mp.unit, mc.unit, $unit) AS unit,
        CAST(coalesce(mp.hours_per_day, mc.hours_per_day, $hours_per_day) AS DECIMAL(6, 2)) AS hours_per_day,
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
        CASE WHEN f.r_scope <> 'entry' THEN f.min_tu ELSE billing_round_tu(f.min_tu, f.inc_tu, f.r_mode) END AS rounded_tu
    FROM floored AS f
),
retainer_entries AS (
    -- the entries of retainer projects, rounded by the same rules as entry_rounded
    SELECT
        c.entry_id, c.project_id, c.spent_date, mp.retainer_hours,
        CASE WHEN coalesce(mp.r_scope, mc.r_scope, $r_scope) <> 'entry'
             THEN greatest(CAST(CAST(c.hours AS DECIMAL(18, 6)) * 60000000 AS BIGINT),
                           CAST(coalesce(mp.r_minimum, mc.r_minimum, $r_minimum) AS BIGINT) * 1000000)
             ELSE billing_round_tu(
                 greatest(CAST(CAST(c.hours AS DECIMAL(18, 6)) * 60000000 AS BIGINT),
                          CAST(coalesce(mp.r_minimum, mc.r_minimum, $r_minimum) AS BIGINT) * 1000000),
                 CAST(coalesce(mp.r_increment, mc.r_increment, $r_increment) AS BIGINT) * 1000000,
                 coalesce(mp.r_mode, mc.r_mode, $r_mode))
        END AS rounded_tu
    FROM clean_time_entries AS c
    JOIN map_projects AS mp ON mp.project_id = c.project_id AND mp.retainer_hours IS NOT NULL
    LEFT JOIN (SELECT DISTINCT client_id, r_increment, r_mode, r_scope, r_minimum
               FROM map_clients) AS mc ON mc.client_id = c.client_id
    WHERE c.disposition = 'billable'
),
retainer AS (
    SELECT
        e.entry_id AS r_entry_id,
        least(e.rounded_tu, greatest(
            CAST(CAST(e.retainer_hours AS DECIMAL(18, 6)) * 60000000 AS BIGINT)
            - (sum(e.rounded_tu) OVER (PARTITION BY e.project_id ORDER BY e.spent_date, e.entry_id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - e.rounded_tu),
            0)) AS retainer_tu
    FROM retainer_entries AS e
),
drawn AS (
    SELECT e.*, coalesce(r.retainer_tu, CAST(0 AS BIGINT)) AS retainer_tu
    FROM entry_rounded AS e
    LEFT JOIN retainer AS r ON r.r_entry_id = e.entry_id
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
