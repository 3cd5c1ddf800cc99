-- finance_translated_results: every entity's results translated from its functional currency into the group
-- reporting currency (IAS 21 current-rate method, configurable):
--   pnl lines      : the period's amount at the average rate ($income_expense_rate = 'average') or at closing
--   balance lines  : closing balance (all movements up to the period end) at the closing rate; the opening
--                    balance at the opening rate (previous closing); the movement at the income/expense rate;
--                    translation_difference = closing - opening - movement (all in reporting minor units)
--   oci line       : per entity, translation_difference = the sum of its balance lines' differences
-- Each translated amount is rounded once. Rate metadata (rate, dates, source, retrieval) kept on every row.
-- Sources: finance_entity_results (every entity, periods up to $period), finance_rates.
-- Parameters: $period, $reporting_currency, $income_expense_rate, $rounding.
WITH flows AS (
    SELECT entity, statement, account, counterparty, functional_currency,
           CAST(sum(functional_minor) FILTER (WHERE period = $period) AS BIGINT) AS movement,
           CAST(sum(functional_minor) AS BIGINT) AS closing
    FROM finance_entity_results
    WHERE period <= $period
    GROUP BY entity, statement, account, counterparty, functional_currency
),
lines AS (
    SELECT f.*, coalesce(f.movement, 0) AS mv,
           r.average_rate, r.closing_rate, r.opening_rate, r.average_minor_rate, r.closing_minor_rate,
           r.opening_minor_rate, r.average_first_date, r.average_last_date, r.average_days,
           r.closing_rate_date, r.opening_rate_date, r.source, r.retrieved_at
    FROM flows AS f
    LEFT JOIN finance_rates AS r ON r.base_currency = f.functional_currency AND r.quote_currency = $reporting_currency
    WHERE (f.statement = 'pnl' AND f.movement IS NOT NULL) OR f.statement = 'balance'
),
translated AS (
    SELECT
        entity, statement, account, counterparty, functional_currency,
        CASE WHEN statement = 'pnl' THEN mv ELSE closing END AS amount_functional_minor,
        CASE WHEN statement = 'balance' THEN closing - mv END AS opening_functional_minor,
        mv AS movement_functional_minor,
        CASE WHEN statement = 'pnl' THEN $income_expense_rate ELSE 'closing' END AS rate_type,
        CASE WHEN statement = 'pnl' AND $income_expense_rate = 'average' THEN average_rate ELSE closing_rate END AS rate,
        CASE WHEN statement = 'pnl' AND $income_expense_rate = 'average' THEN average_first_date ELSE closing_rate_date END AS rate_first_date,
        CASE WHEN statement = 'pnl' AND $income_expense_rate = 'average' THEN average_last_date ELSE closing_rate_date END AS rate_last_date,
        CASE WHEN statement = 'pnl' AND $income_expense_rate = 'average' THEN average_days ELSE 1 END AS rate_days,
        CASE WHEN statement = 'balance' THEN opening_rate END AS opening_rate,
        CASE WHEN statement = 'balance' THEN opening_rate_date END AS opening_rate_date,
        source AS rate_source,
        retrieved_at AS rate_retrieved_at,
        CASE WHEN $income_expense_rate = 'average' THEN average_minor_rate ELSE closing_minor_rate END AS flow_k,
        closing_minor_rate AS closing_k,
        opening_minor_rate AS opening_k
    FROM lines
),
rounded AS (
    SELECT *,
        CAST(CASE WHEN $rounding = 'half_even' THEN round_even(amount_functional_minor * (CASE WHEN statement = 'pnl' THEN flow_k ELSE closing_k END), 0)
                  ELSE round(amount_functional_minor * (CASE WHEN statement = 'pnl' THEN flow_k ELSE closing_k END), 0) END AS BIGINT) AS amount_reporting_minor,
        CAST(CASE WHEN statement <> 'balance' THEN NULL
                  WHEN $rounding = 'half_even' THEN round_even(opening_functional_minor * opening_k, 0)
                  ELSE round(opening_functional_minor * opening_k, 0) END AS BIGINT) AS opening_reporting_minor,
        CAST(CASE WHEN $rounding = 'half_even' THEN round_even(movement_functional_minor * flow_k, 0)
                  ELSE round(movement_functional_minor * flow_k, 0) END AS BIGINT) AS movement_reporting_minor
    FROM translated
),
with_difference AS (
    SELECT *,
        CASE WHEN statement = 'balance'
             THEN amount_reporting_minor - opening_reporting_minor - movement_reporting_minor END AS translation_difference_minor
    FROM rounded
)
SELECT $period AS period, entity, statement, account, counterparty, functional_currency, amount_functional_minor,
       opening_functional_minor, movement_functional_minor, $reporting_currency AS reporting_currency, rate_type, rate,
       rate_first_date, rate_last_date, CAST(rate_days AS BIGINT) AS rate_days, opening_rate, opening_rate_date,
       rate_source, rate_retrieved_at, amount_reporting_minor, opening_reporting_minor, movement_reporting_minor,
       translation_difference_minor
FROM with_difference
UNION ALL
SELECT $period, entity, 'oci', 'translation_difference', NULL, any_value(functional_currency), 0, NULL, 0,
       $reporting_currency, 'derived', NULL, NULL, NULL, NULL, NULL, NULL, 'derived', NULL,
       CAST(sum(translation_difference_minor) AS BIGINT), NULL, NULL, NULL
FROM with_difference
WHERE statement = 'balance'
GROUP BY entity
ORDER BY entity, statement DESC, account, counterparty NULLS FIRST
