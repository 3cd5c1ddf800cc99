-- finance_eliminations: elimination entries for intercompany lines between entities of the group, so group
-- totals exclude them. Each tagged line (ic_revenue, ic_expenses, ic_receivable, ic_payable whose counterparty
-- is a consolidated entity) is reversed in the reporting currency. Per pair of entities and kind (trading:
-- pnl; balances: balance sheet), what the two sides do not cancel (exchange differences, timing, a missing
-- side) is one ic_difference entry of the pair, so each pair's eliminations net to zero and the mismatch is
-- shown, not hidden.
-- Sources: finance_translated_results, finance_group_entities. Parameters: $period, $reporting_currency.
WITH ic AS (
    SELECT t.*,
           CASE WHEN t.statement = 'pnl' THEN 'trading' ELSE 'balances' END AS kind,
           least(t.entity, t.counterparty) || '<>' || greatest(t.entity, t.counterparty) AS pair
    FROM finance_translated_results AS t
    WHERE t.account IN ('ic_revenue', 'ic_expenses', 'ic_receivable', 'ic_payable')
      AND t.counterparty IN (SELECT entity FROM finance_group_entities)
      AND t.entity IN (SELECT entity FROM finance_group_entities)
),
reversals AS (
    SELECT pair, kind, entity, counterparty, statement, account,
           'eliminate ' || account || ' of ' || entity || ' with ' || counterparty AS description,
           -amount_reporting_minor AS amount_reporting_minor,
           amount_functional_minor AS source_functional_minor, functional_currency AS source_currency
    FROM ic
    WHERE amount_reporting_minor <> 0
),
differences AS (
    SELECT pair, kind, NULL AS entity, NULL AS counterparty, any_value(statement) AS statement,
           'ic_difference' AS account,
           'intercompany difference of ' || pair || ' (' || kind || '): the two sides do not cancel' AS description,
           -sum(amount_reporting_minor) AS amount_reporting_minor,
           NULL AS source_functional_minor, NULL AS source_currency
    FROM reversals
    GROUP BY pair, kind
    HAVING sum(amount_reporting_minor) <> 0
)
SELECT $period AS period, pair, kind, entity, counterparty, statement, account, description,
       $reporting_currency AS reporting_currency, CAST(amount_reporting_minor AS BIGINT) AS amount_reporting_minor,
       CAST(source_functional_minor AS BIGINT) AS source_functional_minor, source_currency
FROM reversals
UNION ALL
SELECT $period, pair, kind, entity, counterparty, statement, account, description, $reporting_currency,
       CAST(amount_reporting_minor AS BIGINT), CAST(source_functional_minor AS BIGINT), source_currency
FROM differences
ORDER BY pair, kind, account = 'ic_difference', entity, account
