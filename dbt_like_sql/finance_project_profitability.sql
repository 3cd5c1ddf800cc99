-- finance_project_profitability: per client, project and transaction currency:
--   revenue (invoiced net of credit notes) - direct labour - direct expenses - allocated shared cost = margin,
-- in the transaction currency and translated into the group reporting currency at the period's average rate
-- (each component rounded once; the reporting margin is the difference of the rounded components, so it adds
-- up). Rows without a project carry client-level revenue (fees, discounts, unattributed credit notes).
-- Sources: finance_project_revenue, finance_project_direct_costs, cost_allocations, finance_rates.
-- Parameters: $entity, $period, $reporting_currency, $rounding ('half_up' | 'half_even').
WITH parts AS (
    SELECT client_id, client_name, project_id, project_name, currency,
           revenue_minor, 0 AS labour_minor, 0 AS expense_minor, 0 AS allocated_minor
    FROM finance_project_revenue
    UNION ALL
    SELECT client_id, client_name, project_id, project_name, currency, 0,
           CASE WHEN cost_type = 'labour' THEN amount_minor ELSE 0 END,
           CASE WHEN cost_type = 'expense' THEN amount_minor ELSE 0 END, 0
    FROM finance_project_direct_costs
    UNION ALL
    SELECT client_id, client_name, project_id, project_name, currency, 0, 0, 0, allocated_minor
    FROM cost_allocations
),
summed AS (
    SELECT project_id, currency,
           any_value(client_id ORDER BY client_id) FILTER (WHERE client_id IS NOT NULL) AS client_id,
           any_value(client_name) FILTER (WHERE client_name IS NOT NULL) AS client_name,
           any_value(project_name) FILTER (WHERE project_name IS NOT NULL) AS project_name,
           CAST(sum(revenue_minor) AS BIGINT) AS revenue_minor,
           CAST(sum(labour_minor) AS BIGINT) AS direct_labour_minor,
           CAST(sum(expense_minor) AS BIGINT) AS direct_expense_minor,
           CAST(sum(allocated_minor) AS BIGINT) AS allocated_minor
    FROM parts
    WHERE project_id IS NOT NULL
    GROUP BY project_id, currency
    UNION ALL
    SELECT NULL, currency, client_id, any_value(client_name), NULL,
           CAST(sum(revenue_minor) AS BIGINT), 0, 0, 0
    FROM parts
    WHERE project_id IS NULL
    GROUP BY client_id, currency
),
translated AS (
    SELECT s.*,
           r.average_rate AS rate,
           r.source AS rate_source,
           r.average_first_date AS rate_first_date,
           r.average_last_date AS rate_last_date,
           r.average_days AS rate_days,
           r.retrieved_at AS rate_retrieved_at,
           r.average_minor_rate AS k
    FROM summed AS s
    LEFT JOIN finance_rates AS r ON r.base_currency = s.currency AND r.quote_currency = $reporting_currency
),
result AS (
SELECT
    $entity AS entity,
    $period AS period,
    client_id,
    client_name,
    project_id,
    project_name,
    currency,
    revenue_minor,
    direct_labour_minor,
    direct_expense_minor,
    allocated_minor,
    revenue_minor - direct_labour_minor - direct_expense_minor - allocated_minor AS margin_minor,
    $reporting_currency AS reporting_currency,
    rate,
    rate_source,
    rate_first_date,
    rate_last_date,
    rate_days,
    rate_retrieved_at,
    CAST(CASE WHEN $rounding = 'half_even' THEN round_even(revenue_minor * k, 0) ELSE round(revenue_minor * k, 0) END AS BIGINT) AS revenue_reporting_minor,
    CAST(CASE WHEN $rounding = 'half_even' THEN round_even(direct_labour_minor * k, 0) ELSE round(direct_labour_minor * k, 0) END AS BIGINT) AS direct_labour_reporting_minor,
    CAST(CASE WHEN $rounding = 'half_even' THEN round_even(direct_expense_minor * k, 0) ELSE round(direct_expense_minor * k, 0) END AS BIGINT) AS direct_expense_reporting_minor,
    CAST(CASE WHEN $rounding = 'half_even' THEN round_even(allocated_minor * k, 0) ELSE round(allocated_minor * k, 0) END AS BIGINT) AS allocated_reporting_minor
FROM translated
)
SELECT
    *,
    revenue_reporting_minor - direct_labour_reporting_minor - direct_expense_reporting_minor
        - allocated_reporting_minor AS margin_reporting_minor
FROM result
ORDER BY project_id NULLS LAST, client_id, currency
