-- expense_billables: billable expenses with their markup applied, exact (no rounding): value = amount x
-- (100 + markup percent) / 100, at 12 decimals (amount 6 dp x percent 4 dp x 0.01). A refund (negative
-- amount) stays negative. The invoice's business key is the time lines' (sync_pipeline.domain.ids.invoice_key),
-- so a client's expenses land on the same invoice draft as its time.
-- Sources: clean_expenses. Parameters: $grouping, $revision.
SELECT
    entity,
    period,
    expense_id,
    'inv_' || left(sha256(concat_ws(chr(31), entity, client_id, period, $grouping, $revision)), 16) AS invoice_key,
    client_id,
    client_name,
    project_id,
    project_name,
    category,
    user_id,
    spent_date,
    currency,
    invoice_currency,
    total_cost,
    markup_percent,
    markup_source,
    -- widened before multiplying: DuckDB keeps a product of two DECIMAL(18, x) at width 18 (an expense of
    -- 1,000,000 overflowed and stopped the partition)
    CAST(CAST(total_cost AS DECIMAL(38, 6)) * CAST(100 + markup_percent AS DECIMAL(38, 4)) * CAST(0.01 AS DECIMAL(3, 2))
         AS DECIMAL(38, 12)) AS value,
    total_cost < 0 AS refund,
    approved_by,
    approved_at
FROM clean_expenses
WHERE disposition = 'billable'
