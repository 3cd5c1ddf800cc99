-- finance_allocations: every shared cost line apportioned to the receiving projects of its pool by the
-- pool's driver, by largest remainder in integer minor units, so each line's allocations sum exactly to the
-- line (and each pool's to the pool):
--   exact share  = |amount_minor| x quantity / total quantity (integers: quantities scaled by 10^6)
--   floor share  = exact share rounded down; the units left over go one each to the projects with the
--                  largest fractional remainders (ties: lowest project_id); the line's sign is applied last.
-- Each allocated row keeps the original expense line's identifiers and metadata.
-- Sources: finance_cost_lines, finance_driver_quantities.
WITH lines AS (
    SELECT * FROM finance_cost_lines WHERE disposition = 'shared'
),
drivers AS (
    SELECT *, CAST(quantity * 1000000 AS HUGEINT) AS units FROM finance_driver_quantities
),
totals AS (
    SELECT pool_key, sum(units) AS total_units, CAST(sum(quantity) AS DECIMAL(24, 6)) AS total_quantity,
           count(*) AS receivers
    FROM drivers
    GROUP BY pool_key
),
shares AS (
    SELECT
        l.*,
        d.driver,
        d.project_id,
        d.client_id,
        d.project_name,
        d.client_name,
        d.quantity AS driver_quantity,
        t.total_quantity AS driver_total,
        CAST(abs(l.amount_minor) AS HUGEINT) * d.units // t.total_units AS floor_minor,
        CAST(abs(l.amount_minor) AS HUGEINT) * d.units % t.total_units AS remainder_units
    FROM lines AS l
    JOIN drivers AS d ON d.pool_key = l.pool_key
    JOIN totals AS t ON t.pool_key = l.pool_key
),
ranked AS (
    SELECT
        *,
        abs(amount_minor) - sum(floor_minor) OVER (PARTITION BY line_id) AS leftover_units,
        row_number() OVER (PARTITION BY line_id ORDER BY remainder_units DESC, project_id) AS remainder_rank
    FROM shares
)
SELECT
    entity,
    period,
    pool_key,
    driver,
    line_id,
    source,
    document_id,
    document_number,
    document_reference,
    line_item_id,
    line_no,
    date,
    contact_name,
    description,
    account_code,
    expense_class,
    ic_counterparty,
    currency,
    amount_minor AS line_amount_minor,
    project_id,
    client_id,
    project_name,
    client_name,
    driver_quantity,
    driver_total,
    CAST(sign(amount_minor) * (floor_minor + CASE WHEN remainder_rank <= leftover_units THEN 1 ELSE 0 END)
         AS BIGINT) AS allocated_minor,
    CAST(remainder_rank <= leftover_units AS BOOLEAN) AS got_remainder_unit
FROM ranked
ORDER BY line_id, project_id
