-- invoice_draft_lines: one line per client x currency x project x task x rate, before rounding.
-- Rounding to the currency's minor unit happens once, in sync_pipeline.domain.money.
-- Sources: billables.
SELECT
    entity,
    period,
    client_id,
    any_value(client_name) AS client_name,
    currency,
    project_id,
    any_value(project_name) AS project_name,
    task_id,
    any_value(task_name) AS task_name,
    rate AS unit_amount,
    CAST(sum(hours) AS DECIMAL(12, 6)) AS quantity,
    CAST(sum(value) AS DECIMAL(24, 8)) AS source_value,
    CAST(count(*) AS BIGINT) AS entry_count,
    string_agg(entry_id, ',' ORDER BY entry_id) AS source_entry_ids
FROM billables
GROUP BY entity, period, client_id, currency, project_id, task_id, rate
ORDER BY client_id, currency, project_id, task_id, rate
