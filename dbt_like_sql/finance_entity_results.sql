-- finance_entity_results: the entity's results for the period in its functional currency, the input of
-- consolidation. Signed: income and assets positive, expenses and liabilities negative.
--   pnl     : revenue, ic_revenue, direct_labour, direct_expenses, shared_costs, overheads, ic_expenses, depreciation
--   balance : movements of the period of fixed_assets, accumulated_depreciation, ic_receivable, ic_payable
--             (consolidation accumulates them into opening and closing balances)
-- Intercompany lines carry their counterparty entity. Amounts in another currency than the functional one
-- are remeasured at the period's average rate (one rounding per row). Quarantined cost lines are not results.
-- Sources: finance_project_revenue, finance_project_direct_costs, finance_cost_lines, finance_depreciation,
-- finance_posted_documents, finance_ic, finance_rates.
-- Parameters: $entity, $period, $functional_currency, $rounding.
WITH lines AS (
    SELECT
        CASE WHEN ic_counterparty IS NOT NULL THEN 'ic_expenses'
             WHEN disposition = 'shared' THEN 'shared_costs'
             WHEN disposition = 'direct' THEN 'direct_expenses'
             ELSE 'overheads' END AS account,
        ic_counterparty AS counterparty, currency, -amount_minor AS amount_minor
    FROM finance_cost_lines
    WHERE disposition IN ('shared', 'direct', 'unpooled')
),
rows_ AS (
    SELECT 'pnl' AS statement, CASE WHEN ic_counterparty IS NULL THEN 'revenue' ELSE 'ic_revenue' END AS account,
           ic_counterparty AS counterparty, currency, revenue_minor AS amount_minor
    FROM finance_project_revenue
    UNION ALL
    SELECT 'pnl', 'direct_labour', NULL, currency, -amount_minor
    FROM finance_project_direct_costs WHERE cost_type = 'labour'
    UNION ALL
    SELECT 'pnl', account, counterparty, currency, amount_minor FROM lines
    UNION ALL
    SELECT 'pnl', 'depreciation', NULL, currency, -charge_minor FROM finance_depreciation
    UNION ALL
    SELECT 'balance', 'fixed_assets', NULL, currency, amount_minor
    FROM finance_cost_lines WHERE disposition = 'capex'
    UNION ALL
    SELECT 'balance', 'accumulated_depreciation', NULL, currency, -charge_minor FROM finance_depreciation
    UNION ALL
    SELECT 'balance', 'ic_receivable', ic.counterparty, d.currency,
           CASE WHEN d.document_kind = 'credit_note' THEN -d.total_minor ELSE d.total_minor END
    FROM finance_posted_documents AS d
    JOIN finance_ic AS ic ON ic.client_id = d.client_id
    WHERE d.status IN ('AUTHORISED', 'PAID')
    UNION ALL
    SELECT 'balance', 'ic_payable', ic_counterparty, currency, -(amount_minor + coalesce(tax_minor, 0))
    FROM finance_cost_lines
    WHERE ic_counterparty IS NOT NULL AND source IN ('xero_bill', 'configured')
      AND disposition IN ('shared', 'direct', 'unpooled', 'capex')
),
grouped AS (
    SELECT statement, account, counterparty, currency, CAST(sum(amount_minor) AS BIGINT) AS amount_minor
    FROM rows_
    GROUP BY statement, account, counterparty, currency
)
SELECT
    $entity AS entity,
    $period AS period,
    g.statement,
    g.account,
    g.counterparty,
    g.currency AS transaction_currency,
    g.amount_minor AS transaction_minor,
    $functional_currency AS functional_currency,
    CASE WHEN g.currency = $functional_currency THEN CAST(1 AS DECIMAL(28, 10)) ELSE r.average_rate END AS remeasure_rate,
    CASE WHEN g.currency = $functional_currency THEN 'identity' ELSE r.source END AS remeasure_rate_source,
    CAST(CASE WHEN g.currency = $functional_currency THEN g.amount_minor
              WHEN $rounding = 'half_even' THEN round_even(g.amount_minor * r.average_minor_rate, 0)
              ELSE round(g.amount_minor * r.average_minor_rate, 0) END AS BIGINT) AS functional_minor
FROM grouped AS g
LEFT JOIN finance_rates AS r ON r.base_currency = g.currency AND r.quote_currency = $functional_currency
ORDER BY g.statement DESC, g.account, g.counterparty NULLS FIRST, g.currency
