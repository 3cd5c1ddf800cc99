-- finance_project_revenue: revenue per client, project and invoice currency = invoiced lines of live invoices
-- (AUTHORISED or PAID in the accounting system) net of live credit notes. A credit note is apportioned to the
-- projects of the invoice it credits pro rata to that invoice's line amounts (largest remainder, minor units);
-- when the credited invoice is not in the partition it reduces the client's revenue without a project.
-- Fee, retainer and discount lines have no project: they count for the client (project_id NULL).
-- Sources: invoice_drafts, finance_posted_documents, finance_ic.
WITH live AS (
    SELECT * FROM finance_posted_documents WHERE status IN ('AUTHORISED', 'PAID')
),
invoice_lines AS (
    SELECT d.invoice_key, d.reference, d.client_id, d.client_name, d.project_id, d.project_name, d.currency,
           CAST(d.line_amount_minor AS BIGINT) AS amount_minor
    FROM invoice_drafts AS d
    JOIN live AS p ON p.invoice_key = d.invoice_key AND p.document_kind = 'invoice'
),
invoiced AS (
    SELECT client_id, any_value(client_name) AS client_name, project_id, any_value(project_name) AS project_name,
           currency, sum(amount_minor) AS invoiced_minor, CAST(0 AS HUGEINT) AS credited_minor
    FROM invoice_lines
    GROUP BY client_id, project_id, currency
),
credits AS (
    SELECT c.invoice_key AS credit_key, c.client_id, c.currency, CAST(c.subtotal_minor AS BIGINT) AS credit_minor,
           o.invoice_key AS original_key
    FROM live AS c
    LEFT JOIN live AS o ON o.document_kind = 'invoice' AND o.reference = c.original_reference
    WHERE c.document_kind = 'credit_note'
),
original_projects AS (
    SELECT invoice_key, project_id, any_value(project_name) AS project_name, any_value(client_name) AS client_name,
           sum(amount_minor) AS base_minor
    FROM invoice_lines
    GROUP BY invoice_key, project_id
),
credit_shares AS (
    SELECT cr.credit_key, cr.client_id, cr.currency, cr.credit_minor, op.project_id, op.project_name, op.client_name,
           CAST(abs(cr.credit_minor) AS HUGEINT) * abs(op.base_minor) AS num,
           sum(abs(op.base_minor)) OVER (PARTITION BY cr.credit_key) AS den
    FROM credits AS cr
    JOIN original_projects AS op ON op.invoice_key = cr.original_key
),
credit_floors AS (
    SELECT *, CASE WHEN den = 0 THEN 0 ELSE num // den END AS floor_minor,
              CASE WHEN den = 0 THEN 0 ELSE num % den END AS rem
    FROM credit_shares
),
credit_ranked AS (
    SELECT *, abs(credit_minor) - sum(floor_minor) OVER (PARTITION BY credit_key) AS leftover,
           row_number() OVER (PARTITION BY credit_key ORDER BY rem DESC, project_id NULLS LAST) AS rnk
    FROM credit_floors
),
credited AS (
    SELECT client_id, client_name, project_id, project_name, currency, CAST(0 AS HUGEINT) AS invoiced_minor,
           sign(credit_minor) * (floor_minor + CASE WHEN rnk <= leftover THEN 1 ELSE 0 END) AS credited_minor
    FROM credit_ranked
    UNION ALL
    SELECT client_id, NULL, NULL, NULL, currency, 0, credit_minor
    FROM credits
    WHERE original_key IS NULL
       OR original_key NOT IN (SELECT invoice_key FROM original_projects)
),
everything AS (
    SELECT * FROM invoiced
    UNION ALL
    SELECT * FROM credited
)
SELECT
    $entity AS entity,
    $period AS period,
    e.client_id,
    any_value(e.client_name) AS client_name,
    e.project_id,
    any_value(e.project_name) AS project_name,
    e.currency,
    any_value(ic.counterparty) AS ic_counterparty,
    CAST(sum(e.invoiced_minor) AS BIGINT) AS invoiced_minor,
    CAST(sum(e.credited_minor) AS BIGINT) AS credited_minor,
    CAST(sum(e.invoiced_minor) - sum(e.credited_minor) AS BIGINT) AS revenue_minor
FROM everything AS e
LEFT JOIN finance_ic AS ic ON ic.client_id = e.client_id
GROUP BY e.client_id, e.project_id, e.currency
ORDER BY e.client_id, e.project_id NULLS LAST, e.currency
