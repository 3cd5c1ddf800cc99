-- cash_payment_candidates: bank lines that are a payment already recorded in the accounting system
-- (by hand, not yet reconciled): same amount in the bank's currency, dated -$payment_days_before ..
-- +$payment_days_after days around the payment, and either the paid invoice named in the text (its number, our
-- reference, its number one typo away or its bare digits: with the exact amount and the date that is the
-- payment) or the payer being the invoice's contact. Applying such a line again would pay the invoice twice.
-- Sources: cash_bank_norm, cash_payments (payment_id, invoice_id, amount_minor, currency,
--          bank_amount_minor, date, reference), cash_invoices, cash_aliases.
WITH pay AS (
    SELECT p.payment_id, p.invoice_id, p.currency AS invoice_currency, CAST(p.amount_minor AS BIGINT) AS amount_minor,
           CAST(p.bank_amount_minor AS BIGINT) AS bank_amount_minor, CAST(p.date AS DATE) AS date,
           TRY_CAST(regexp_replace(i.invoice_number, '[^0-9]', '', 'g') AS BIGINT) AS inv_no,
           upper(coalesce(i.reference, '')) AS ref_upper,
           regexp_replace(i.invoice_number, '[^0-9]', '', 'g') AS inv_digits,
           cash_name_key(i.contact_name) AS contact_key, i.contact_id
    FROM cash_payments p JOIN cash_invoices i USING (invoice_id)
)
SELECT b.line_id, pay.payment_id, pay.invoice_id, pay.invoice_currency, pay.amount_minor, pay.bank_amount_minor,
       b.amount_minor AS line_amount_minor, b.currency AS line_currency,
       list_contains(b.ref_numbers, pay.inv_no) OR list_contains(b.ref_ours, pay.ref_upper)
         OR list_contains(b.digit_tokens, pay.inv_no)
         OR list_has_any(b.ref_fuzzy_keys, cash_fuzzy_number_keys(pay.inv_digits)) AS by_ref,
       len(b.ref_numbers) + len(b.ref_ours) > 0 AS line_has_reference,
       b.payer_key = pay.contact_key
         OR EXISTS (SELECT 1 FROM cash_aliases a WHERE a.payer_key = b.payer_key AND a.contact_id = pay.contact_id)
         AS same_counterparty,
       jaro_winkler_similarity(b.payer_key, pay.contact_key) AS name_similarity,
       CAST(b.date - pay.date AS INTEGER) AS days_after_payment
FROM cash_bank_norm b
JOIN pay ON b.amount_minor = pay.bank_amount_minor
        AND b.date BETWEEN pay.date - CAST($payment_days_before AS INTEGER) AND pay.date + CAST($payment_days_after AS INTEGER)
ORDER BY b.line_id, pay.payment_id
