-- finance_driver_quantities: for each cost pool of the entity, the quantity of its declared driver per
-- receiving project in the period. Only these quantities move shared cost to projects.
--   hours     : hours of the period's classified time entries on the project (dispositions chosen per pool;
--               quarantined entries never count)
--   headcount : distinct people who booked time on the project in the period
--   usage     : the pool's usage metric per project (finance configuration / re-allocation run config)
--   fixed_key : the pool's configured weights per project
-- Projects with a zero quantity receive nothing and are left out.
-- Sources: clean_time_entries, finance_pools, finance_usage, finance_fixed_keys.
WITH entries AS (
    SELECT project_id, client_id, project_name, client_name, user_id, CAST(hours AS DECIMAL(18, 6)) AS hours, disposition
    FROM clean_time_entries
    WHERE disposition <> 'quarantined' AND project_id IS NOT NULL
),
projects AS (
    SELECT project_id, any_value(client_id ORDER BY client_id) AS client_id,
           any_value(project_name ORDER BY project_name) AS project_name,
           any_value(client_name ORDER BY client_name) AS client_name
    FROM entries
    GROUP BY project_id
),
by_time AS (
    SELECT p.pool_key, p.driver, e.project_id,
           CASE p.driver
               WHEN 'hours' THEN CAST(sum(e.hours) AS DECIMAL(18, 6))
               ELSE CAST(count(DISTINCT e.user_id) AS DECIMAL(18, 6))
           END AS quantity
    FROM finance_pools AS p
    JOIN entries AS e ON list_contains(p.dispositions, e.disposition)
    WHERE p.driver IN ('hours', 'headcount')
    GROUP BY p.pool_key, p.driver, e.project_id
),
by_usage AS (
    SELECT p.pool_key, p.driver, u.project_id, any_value(u.client_id) AS client_id,
           CAST(sum(u.quantity) AS DECIMAL(18, 6)) AS quantity
    FROM finance_pools AS p
    JOIN finance_usage AS u ON u.metric = p.usage_metric
    WHERE p.driver = 'usage'
    GROUP BY p.pool_key, p.driver, u.project_id
),
by_key AS (
    SELECT p.pool_key, p.driver, k.project_id, any_value(k.client_id) AS client_id,
           CAST(sum(k.weight) AS DECIMAL(18, 6)) AS quantity
    FROM finance_pools AS p
    JOIN finance_fixed_keys AS k ON k.pool_key = p.pool_key
    WHERE p.driver = 'fixed_key'
    GROUP BY p.pool_key, p.driver, k.project_id
),
quantities AS (
    SELECT pool_key, driver, project_id, CAST(NULL AS VARCHAR) AS client_id, quantity FROM by_time
    UNION ALL
    SELECT pool_key, driver, project_id, client_id, quantity FROM by_usage
    UNION ALL
    SELECT pool_key, driver, project_id, client_id, quantity FROM by_key
)
SELECT
    q.pool_key,
    q.driver,
    q.project_id,
    coalesce(q.client_id, pr.client_id) AS client_id,
    pr.project_name,
    pr.client_name,
    q.quantity
FROM quantities AS q
LEFT JOIN projects AS pr ON pr.project_id = q.project_id
WHERE q.quantity > 0
ORDER BY q.pool_key, q.project_id
