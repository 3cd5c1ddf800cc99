-- cash_paid_references: receipts whose text names an invoice that is already fully paid (nothing due):
-- a duplicate payment must not be applied to another open invoice of the same customer.
-- Sources: cash_bank_norm, cash_invoices.
SELECT b.line_id, min(i.invoice_number) AS invoice_number
FROM (SELECT line_id, unnest(ref_numbers) AS inv_no FROM cash_bank_norm) b
JOIN cash_invoices i ON TRY_CAST(regexp_replace(i.invoice_number, '[^0-9]', '', 'g') AS BIGINT) = b.inv_no
WHERE i.amount_due_minor <= 0
GROUP BY b.line_id
