-- cash_invoice_norm: open receivables (amount due > 0) with the keys the matcher compares, and the
-- amount due converted into the bank account's currency at the invoice date ($bank_currency).
-- Sources: cash_invoices, cash_fx_rates (from_currency, to_currency, rate_date, minor_rate: exact
-- factor from minor units to minor units).
WITH inv AS (
    SELECT
        invoice_id,
        invoice_number,
        reference,
        upper(coalesce(reference, '')) AS ref_upper,
        TRY_CAST(regexp_replace(invoice_number, '[^0-9]', '', 'g') AS BIGINT) AS inv_no,
        contact_id,
        contact_name,
        cash_name_key(contact_name) AS contact_key,
        cash_name_prefix(contact_name) AS contact_prefix,
        cash_name_stem(contact_name) AS contact_stem,
        cash_name_tail(contact_name) AS contact_tail,
        currency,
        CAST(total_minor AS BIGINT) AS total_minor,
        CAST(amount_due_minor AS BIGINT) AS amount_due_minor,
        CAST(date AS DATE) AS date,
        CAST(due_date AS DATE) AS due_date
    FROM cash_invoices
    WHERE amount_due_minor > 0
)
SELECT
    inv.*,
    cash_fuzzy_number_keys(regexp_replace(inv.invoice_number, '[^0-9]', '', 'g')) AS ref_fuzzy_keys,
    CASE WHEN inv.currency = $bank_currency THEN inv.amount_due_minor
         ELSE CAST(round(inv.amount_due_minor * fx.minor_rate) AS BIGINT) END AS due_bank_minor
FROM inv
ASOF LEFT JOIN cash_fx_rates fx
    ON fx.from_currency = inv.currency AND fx.to_currency = $bank_currency AND inv.date >= fx.rate_date
