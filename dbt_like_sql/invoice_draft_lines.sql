-- invoice_draft_lines: one time line per invoice x project x task x rate (and rule set), before money rounding.
-- Time rounding with scope 'day' applies to each person-day on the line, scope 'line' to the line total;
-- money is rounded once per line in sync_pipeline.domain.billing (Xero's arithmetic).
-- Approver identity and date, and where the rate came from, travel with the line.
-- Lines are grouped on one 64-bit hash of their key columns (`line_id`, fast); `key_consistent` checks per line
-- that a second hash of the same columns (other order, other seed) agrees across its entries, so two different
-- keys that shared the first hash are caught (the domain refuses a line where it is false) without comparing
-- every key column per entry. source_entry_ids lists the line's entries sorted (list_sort, not an ordered
-- string_agg, which buffers and sorts every group's rows); conservation proves membership on those ids both
-- ways (services.billing.check_conservation_sql).
-- Sources: billables.
WITH b AS (
    SELECT
        *,
        hash(invoice_key, currency, invoice_currency, project_id, task_id, rate, list_rate, billable_percent,
             rounding_scope, rounding_increment_tu, rounding_mode, unit, hours_per_day) AS line_id,
        hash('line-key-check', hours_per_day, unit, rounding_mode, rounding_increment_tu, rounding_scope,
             billable_percent, list_rate, rate, task_id, project_id, invoice_currency, currency, invoice_key) AS key_check
    FROM billables
),
days AS (
    -- scope 'day': each person-day's billed time on the line is rounded on its own
    SELECT
        line_id,
        sum(CASE
            WHEN mode = 'up' THEN ((tu + inc - 1) // inc) * inc
            WHEN mode = 'down' THEN (tu // inc) * inc
            ELSE ((tu + inc // 2) // inc) * inc
        END) AS day_rounded_tu
    FROM (
        SELECT line_id, user_id, spent_date, any_value(rounding_increment_tu) AS inc,
               any_value(rounding_mode) AS mode, sum(billed_tu) AS tu
        FROM b
        WHERE rounding_scope = 'day' AND rounding_increment_tu IS NOT NULL
        GROUP BY line_id, user_id, spent_date
    )
    GROUP BY line_id
),
lines AS (
    SELECT
        line_id,
        any_value(entity) AS entity,
        any_value(period) AS period,
        any_value(invoice_key) AS invoice_key,
        any_value(client_id) AS client_id,
        any_value(client_name) AS client_name,
        any_value(currency) AS currency,
        any_value(invoice_currency) AS invoice_currency,
        any_value(project_id) AS project_id,
        any_value(project_name) AS project_name,
        any_value(task_id) AS task_id,
        any_value(task_name) AS task_name,
        any_value(rate) AS rate,
        any_value(list_rate) AS list_rate,
        any_value(billable_percent) AS billable_percent,
        any_value(rounding_scope) AS rounding_scope,
        any_value(rounding_increment_tu) AS rounding_increment_tu,
        any_value(rounding_mode) AS rounding_mode,
        any_value(unit) AS unit,
        any_value(hours_per_day) AS hours_per_day,
        min(key_check) = max(key_check) AS key_consistent,
        CAST(sum(billed_tu) AS BIGINT) AS entry_billed_tu,
        CAST(sum(worked_tu) AS BIGINT) AS worked_tu,
        CAST(sum(retainer_tu) AS BIGINT) AS retainer_tu,
        CAST(sum(hours) AS DECIMAL(18, 6)) AS hours,
        CAST(sum(value) AS DECIMAL(38, 12)) AS source_value,
        CAST(count(*) AS BIGINT) AS entry_count,
        array_to_string(list_sort(list(entry_id)), ',') AS source_entry_ids,
        coalesce(string_agg(DISTINCT rate_source, ',' ORDER BY rate_source), '') AS rate_source,
        coalesce(string_agg(DISTINCT approved_by, ',' ORDER BY approved_by), '') AS approved_by,
        max(approved_at) AS approved_at
    FROM b
    GROUP BY line_id
)
SELECT
    l.* EXCLUDE (line_id, entry_billed_tu),
    CAST(CASE
        WHEN l.rounding_scope = 'day' AND l.rounding_increment_tu IS NOT NULL THEN d.day_rounded_tu
        WHEN l.rounding_scope <> 'line' OR l.rounding_increment_tu IS NULL THEN l.entry_billed_tu
        WHEN l.rounding_mode = 'up' THEN ((l.entry_billed_tu + l.rounding_increment_tu - 1) // l.rounding_increment_tu)
                                         * l.rounding_increment_tu
        WHEN l.rounding_mode = 'down' THEN (l.entry_billed_tu // l.rounding_increment_tu) * l.rounding_increment_tu
        ELSE ((l.entry_billed_tu + l.rounding_increment_tu // 2) // l.rounding_increment_tu) * l.rounding_increment_tu
    END AS BIGINT) AS billed_tu
FROM lines AS l
LEFT JOIN days AS d ON d.line_id = l.line_id
ORDER BY client_id, invoice_currency, project_id, task_id, rate
