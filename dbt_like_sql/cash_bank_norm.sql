-- cash_bank_norm: customer receipts on the bank statement, with the keys the matcher compares.
-- Sources: cash_bank_lines (line_id, account, date, amount_minor, currency, payer_name, description).
-- Money out (amount <= 0) is not a customer receipt and is left to the caller to report.
SELECT
    line_id,
    account,
    CAST(date AS DATE) AS date,
    CAST(amount_minor AS BIGINT) AS amount_minor,
    currency,
    payer_name,
    description,
    cash_name_key(payer_name) AS payer_key,
    cash_name_prefix(payer_name) AS payer_prefix,
    cash_name_stem(payer_name) AS payer_stem,
    cash_name_tail(payer_name) AS payer_tail,
    cash_invoice_numbers(description) AS ref_numbers,
    cash_our_references(description) AS ref_ours,
    cash_digit_tokens(description) AS digit_tokens,
    list_distinct(flatten(list_transform(cash_number_strings(description),
                                         lambda n: cash_fuzzy_number_keys(n)))) AS ref_fuzzy_keys
FROM cash_bank_lines
WHERE amount_minor > 0
