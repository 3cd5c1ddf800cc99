-- cash_bank_norm: customer receipts on the bank statement, with the keys the matcher compares.
-- Sources: cash_bank_lines (line_id, account, date, amount_minor, currency, payer_name, description),
--          cash_invoices (the numbers the accounting target gave its invoices, paid or not).
-- Money out (amount <= 0) is not a customer receipt and is left to the caller to report.
-- ref_numbers: the invoice numbers the text names — written "INV-00123" (read through typos, see
-- cash_invoice_numbers), or written exactly as the target numbers its invoices, whatever its scheme
-- (QuickBooks Online: "1002"; a bare number that is no invoice's number names nothing).
WITH receipts AS (
    SELECT * FROM cash_bank_lines WHERE amount_minor > 0
), numbers AS (
    SELECT DISTINCT upper(invoice_number) AS written,
           TRY_CAST(regexp_replace(invoice_number, '[^0-9]', '', 'g') AS BIGINT) AS inv_no
    FROM cash_invoices
    WHERE regexp_matches(coalesce(invoice_number, ''), '[0-9]')
), written AS (
    SELECT t.line_id, list(DISTINCT n.inv_no) AS inv_nos
    FROM (SELECT line_id, unnest(regexp_extract_all(upper(coalesce(description, '')),
                                                    '[A-Z0-9]+(?:[-/][A-Z0-9]+)*')) AS token
          FROM receipts) t
    JOIN numbers n ON n.written = t.token
    WHERE n.inv_no IS NOT NULL
    GROUP BY t.line_id
)
SELECT
    r.line_id,
    r.account,
    CAST(r.date AS DATE) AS date,
    CAST(r.amount_minor AS BIGINT) AS amount_minor,
    r.currency,
    r.payer_name,
    r.description,
    cash_name_key(r.payer_name) AS payer_key,
    cash_name_prefix(r.payer_name) AS payer_prefix,
    cash_name_stem(r.payer_name) AS payer_stem,
    cash_name_tail(r.payer_name) AS payer_tail,
    list_distinct(list_concat(cash_invoice_numbers(r.description), coalesce(w.inv_nos, []::BIGINT[]))) AS ref_numbers,
    cash_our_references(r.description) AS ref_ours,
    cash_digit_tokens(r.description) AS digit_tokens,
    list_distinct(flatten(list_transform(cash_number_strings(r.description),
                                         lambda n: cash_fuzzy_number_keys(n)))) AS ref_fuzzy_keys
FROM receipts r
LEFT JOIN written w USING (line_id)
