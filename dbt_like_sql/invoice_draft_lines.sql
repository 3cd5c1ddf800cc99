-- invoice_draft_lines: one time line per invoice x project x task x rate (and rule set), before money rounding.
-- Time rounding with scope 'day' applies to each person-day on the line, scope 'line' to the line total;
-- money is rounded once per line in sync_pipeline.domain.billing (Xero's arithmetic).
-- Approver identity and date, and where the rate came from, travel with the line.
-- Sources: billables.
WITH per_day AS (
    SELECT
        entity, period, invoice_key, client_id, currency, invoice_currency, project_id, task_id, rate, list_rate,
        billable_percent, rounding_scope, rounding_increment_tu, rounding_mode, unit, hours_per_day,
        user_id, spent_date,
        any_value(client_name) AS client_name,
        any_value(project_name) AS project_name,
        any_value(task_name) AS task_name,
        sum(billed_tu) AS billed_tu,
        sum(worked_tu) AS worked_tu,
        sum(retainer_tu) AS retainer_tu,
        sum(hours) AS hours,
        sum(value) AS value,
        count(*) AS entry_count,
        list(entry_id) AS entry_ids,
        list(DISTINCT rate_source) AS rate_sources,
        list(DISTINCT approved_by) FILTER (WHERE approved_by IS NOT NULL) AS approvers,
        max(approved_at) AS approved_at
    FROM billables
    GROUP BY ALL
),
day_rounded AS (
    SELECT
        d.*,
        CASE
            WHEN d.rounding_scope <> 'day' OR d.rounding_increment_tu IS NULL THEN d.billed_tu
            WHEN d.rounding_mode = 'up'
                THEN ((d.billed_tu + d.rounding_increment_tu - 1) // d.rounding_increment_tu) * d.rounding_increment_tu
            WHEN d.rounding_mode = 'down' THEN (d.billed_tu // d.rounding_increment_tu) * d.rounding_increment_tu
            ELSE ((d.billed_tu + d.rounding_increment_tu // 2) // d.rounding_increment_tu) * d.rounding_increment_tu
        END AS day_tu
    FROM per_day AS d
),
per_line AS (
    SELECT
        entity, period, invoice_key, client_id, currency, invoice_currency, project_id, task_id, rate, list_rate,
        billable_percent, rounding_scope, rounding_increment_tu, rounding_mode, unit, hours_per_day,
        any_value(client_name) AS client_name,
        any_value(project_name) AS project_name,
        any_value(task_name) AS task_name,
        CAST(sum(day_tu) AS BIGINT) AS billed_tu,
        CAST(sum(worked_tu) AS BIGINT) AS worked_tu,
        CAST(sum(retainer_tu) AS BIGINT) AS retainer_tu,
        CAST(sum(hours) AS DECIMAL(18, 6)) AS hours,
        CAST(sum(value) AS DECIMAL(38, 12)) AS source_value,
        CAST(sum(entry_count) AS BIGINT) AS entry_count,
        array_to_string(list_sort(flatten(list(entry_ids))), ',') AS source_entry_ids,
        array_to_string(list_sort(list_distinct(flatten(list(rate_sources)))), ',') AS rate_source,
        array_to_string(list_sort(list_distinct(flatten(list(approvers)))), ',') AS approved_by,
        max(approved_at) AS approved_at
    FROM day_rounded
    GROUP BY ALL
)
SELECT
    l.* EXCLUDE (billed_tu),
    CAST(CASE
        WHEN l.rounding_scope <> 'line' OR l.rounding_increment_tu IS NULL THEN l.billed_tu
        WHEN l.rounding_mode = 'up'
            THEN ((l.billed_tu + l.rounding_increment_tu - 1) // l.rounding_increment_tu) * l.rounding_increment_tu
        WHEN l.rounding_mode = 'down' THEN (l.billed_tu // l.rounding_increment_tu) * l.rounding_increment_tu
        ELSE ((l.billed_tu + l.rounding_increment_tu // 2) // l.rounding_increment_tu) * l.rounding_increment_tu
    END AS BIGINT) AS billed_tu
FROM per_line AS l
ORDER BY client_id, invoice_currency, project_id, task_id, rate
