-- finance_capex_register: capex lines of the period with their depreciation schedule, one row per month.
-- Straight line from the month of acquisition; the cost is split over the months in minor units with the
-- remainder spread one unit at a time over the earliest months, so the schedule sums exactly to the cost.
-- Sources: finance_cost_lines.
WITH capex AS (
    SELECT *,
        abs(amount_minor) // depreciation_months AS base_minor,
        abs(amount_minor) % depreciation_months AS extra_months,
        sign(amount_minor) AS sgn
    FROM finance_cost_lines
    WHERE disposition = 'capex'
),
months AS (
    SELECT *, unnest(range(depreciation_months)) AS i FROM capex
)
SELECT
    c.entity,
    c.period,
    c.line_id,
    c.source,
    c.document_id,
    c.document_number,
    c.date AS acquisition_date,
    c.contact_name,
    c.description,
    c.account_code,
    c.capitalization_code,
    c.depreciation_code,
    c.depreciation_months,
    c.ic_counterparty,
    c.currency,
    c.amount_minor AS cost_minor,
    CAST(c.i + 1 AS BIGINT) AS month_no,
    strftime(date_trunc('month', CAST(c.date AS DATE)) + to_months(CAST(c.i AS INTEGER)), '%Y-%m') AS charge_period,
    CAST(c.sgn * (c.base_minor + CASE WHEN c.i < c.extra_months THEN 1 ELSE 0 END) AS BIGINT) AS charge_minor
FROM months AS c
ORDER BY c.line_id, month_no
