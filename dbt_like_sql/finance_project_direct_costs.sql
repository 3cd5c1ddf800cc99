-- finance_project_direct_costs: what each project cost directly in the period.
--   labour  : hours x the person's cost rate (from the project system) of every worked entry (billable,
--             non-billable, awaiting approval; quarantined entries are not work), summed exactly per project
--             and rounded once (half up) to the entity's functional currency; entries without a cost rate are
--             counted, not guessed
--   expense : opex lines tracked to the project (finance_cost_lines disposition 'direct'), in their currency
-- Sources: clean_time_entries, raw_time_entries, finance_cost_lines.
-- Parameters: $functional_currency, $functional_factor (10 ^ minor units of the functional currency).
WITH worked AS (
    SELECT c.project_id, c.client_id, c.project_name, c.client_name, CAST(c.hours AS DECIMAL(18, 6)) AS hours,
           CAST(r.cost_rate AS DECIMAL(18, 6)) AS cost_rate
    FROM clean_time_entries AS c
    LEFT JOIN raw_time_entries AS r ON r.entry_id = c.entry_id
    WHERE c.disposition IN ('billable', 'non_billable', 'held') AND c.project_id IS NOT NULL
),
labour AS (
    SELECT project_id, any_value(client_id ORDER BY client_id) AS client_id,
           any_value(project_name) AS project_name, any_value(client_name) AS client_name,
           $functional_currency AS currency, 'labour' AS cost_type,
           CAST(sum(hours) AS DECIMAL(18, 6)) AS hours,
           CAST(round(coalesce(sum(hours * cost_rate), 0) * $functional_factor, 0) AS BIGINT) AS amount_minor,
           CAST(count(*) AS BIGINT) AS entries,
           CAST(count(*) FILTER (WHERE cost_rate IS NULL) AS BIGINT) AS entries_without_cost_rate,
           CAST(coalesce(sum(hours) FILTER (WHERE cost_rate IS NULL), 0) AS DECIMAL(18, 6)) AS hours_without_cost_rate
    FROM worked
    GROUP BY project_id
),
projects AS (
    SELECT DISTINCT ON (project_id) project_id, client_id, project_name, client_name FROM worked ORDER BY project_id, client_id
),
expense AS (
    SELECT l.project_ref AS project_id, any_value(p.client_id) AS client_id, any_value(p.project_name) AS project_name,
           any_value(p.client_name) AS client_name, l.currency, 'expense' AS cost_type,
           CAST(NULL AS DECIMAL(18, 6)) AS hours, CAST(sum(l.amount_minor) AS BIGINT) AS amount_minor,
           CAST(count(*) AS BIGINT) AS entries, CAST(0 AS BIGINT) AS entries_without_cost_rate,
           CAST(0 AS DECIMAL(18, 6)) AS hours_without_cost_rate
    FROM finance_cost_lines AS l
    LEFT JOIN projects AS p ON p.project_id = l.project_ref
    WHERE l.disposition = 'direct'
    GROUP BY l.project_ref, l.currency
)
SELECT $entity AS entity, $period AS period, * FROM labour
UNION ALL
SELECT $entity AS entity, $period AS period, * FROM expense
ORDER BY project_id, cost_type, currency
