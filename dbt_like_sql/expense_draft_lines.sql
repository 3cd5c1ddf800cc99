-- expense_draft_lines: one expense line per invoice x project x category x markup (refunds on lines of their
-- own), before money rounding: the amounts and the marked-up values summed exactly. Money is rounded once
-- per line in sync_pipeline.domain.billing (quantity 1 x the marked-up total, Xero's arithmetic), with the
-- tax and account of the mapping's expense rules. Source ids are 'expense:<id>' (not time entry ids).
-- Sources: expense_billables.
SELECT
    any_value(entity) AS entity,
    any_value(period) AS period,
    invoice_key,
    client_id,
    any_value(client_name) AS client_name,
    currency,
    invoice_currency,
    project_id,
    any_value(project_name) AS project_name,
    category,
    markup_percent,
    refund,
    array_to_string(list_sort(list_distinct(list(markup_source))), ',') AS markup_source,
    CAST(sum(total_cost) AS DECIMAL(18, 6)) AS total_cost,
    CAST(sum(value) AS DECIMAL(38, 12)) AS value,
    CAST(count(*) AS BIGINT) AS expense_count,
    string_agg('expense:' || expense_id, ',' ORDER BY expense_id) AS source_entry_ids,
    array_to_string(list_sort(list_distinct(list(approved_by))), ',') AS approved_by,
    max(approved_at) AS approved_at
FROM expense_billables
GROUP BY invoice_key, client_id, currency, invoice_currency, project_id, category, markup_percent, refund
ORDER BY client_id, project_id, category, markup_percent, refund
