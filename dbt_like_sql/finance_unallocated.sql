-- finance_unallocated: shared cost lines that could not be allocated, with the reason (never dropped):
-- their pool's driver has no quantity on any project in the period.
-- Sources: finance_cost_lines, finance_driver_quantities, finance_pools.
SELECT
    l.entity,
    l.period,
    l.pool_key,
    p.driver,
    l.line_id,
    l.source,
    l.document_id,
    l.description,
    l.account_code,
    l.currency,
    l.amount_minor,
    'pool ' || l.pool_key || ': driver ' || coalesce(p.driver, '?')
        || ' has no quantity on any project in the period; nothing to allocate by' AS reason
FROM finance_cost_lines AS l
LEFT JOIN finance_pools AS p ON p.pool_key = l.pool_key
WHERE l.disposition = 'shared'
  AND l.pool_key NOT IN (SELECT pool_key FROM finance_driver_quantities)
ORDER BY l.line_id
