-- finance_consolidated: group totals in the reporting currency per statement and account: the sum of the
-- translated entity amounts, the eliminations, and the consolidated amount (their sum). Intercompany accounts
-- net to zero after elimination; ic_difference shows what did not cancel; oci translation_difference shows the
-- translation difference of the period.
-- Sources: finance_translated_results, finance_eliminations. Parameters: $period, $reporting_currency.
WITH parts AS (
    SELECT statement, account, amount_reporting_minor AS entities_minor, 0 AS eliminations_minor, entity
    FROM finance_translated_results
    UNION ALL
    SELECT statement, account, 0, amount_reporting_minor, NULL
    FROM finance_eliminations
)
SELECT
    $period AS period,
    statement,
    account,
    $reporting_currency AS reporting_currency,
    CAST(count(DISTINCT entity) AS BIGINT) AS entities,
    CAST(sum(entities_minor) AS BIGINT) AS entities_reporting_minor,
    CAST(sum(eliminations_minor) AS BIGINT) AS eliminations_minor,
    CAST(sum(entities_minor) + sum(eliminations_minor) AS BIGINT) AS consolidated_minor
FROM parts
GROUP BY statement, account
ORDER BY statement DESC, account
