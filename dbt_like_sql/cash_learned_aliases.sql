-- cash_learned_aliases: payer names the bank shows for a contact, learned from this run's own unambiguous
-- receipts (a customer paying through its parent company or under a trading name, a bank mangling the
-- name the same way every time): the text names exactly one open invoice (its number or our reference)
-- and the amount is exactly that invoice's amount due, in its currency, inside the date window. A payer name
-- may be learned for several contacts (a parent company paying for its subsidiaries); a payer name that is
-- some contact's own name is not learned (that contact is who it is).
-- Sources: cash_bank_norm, cash_invoice_norm.
WITH refs AS (
    SELECT b.line_id, i.invoice_id
    FROM (SELECT line_id, unnest(ref_numbers) AS inv_no FROM cash_bank_norm) b
    JOIN cash_invoice_norm i USING (inv_no)
    UNION
    SELECT b.line_id, i.invoice_id
    FROM (SELECT line_id, unnest(ref_ours) AS ref_upper FROM cash_bank_norm) b
    JOIN cash_invoice_norm i USING (ref_upper)
), single AS (
    SELECT line_id, min(invoice_id) AS invoice_id FROM refs GROUP BY line_id HAVING count(*) = 1
), taught AS (
    SELECT b.payer_key, i.contact_id
    FROM single s
    JOIN cash_bank_norm b USING (line_id)
    JOIN cash_invoice_norm i USING (invoice_id)
    WHERE b.currency = i.currency AND b.amount_minor = i.amount_due_minor
      AND b.payer_key <> '' AND b.payer_key <> i.contact_key
      AND b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
)
SELECT payer_key, contact_id, count(*) AS receipts
FROM taught
WHERE payer_key NOT IN (SELECT contact_key FROM cash_invoice_norm)
GROUP BY payer_key, contact_id
