-- cash_candidates: bank line × open invoice pairs worth scoring, with how each was found and the
-- features the cascade decides on. A pair is a candidate when, within the date window
-- (invoice date - $days_before .. invoice date + $days_after):
--   ref     the bank text carries the invoice number or our reference (normalised);
--   name    the payer is the contact (same name key, a known alias, the same first two words, or
--           the same first three letters of each of them, which survives most typos);
--   amount  the amount is exactly the amount due, in the same currency (an amount more than
--           $max_amount_candidates open invoices share finds nothing by itself).
-- by_fuzzy marks a pair whose text carries a number one typo away from the invoice's (transposed, substituted,
-- dropped or added digit). Pairs found by name alone are capped per line ($max_name_candidates closest in
-- amount, and as many closest in date).
-- Pairs the workbench rejected are never candidates again (cash_rejected_pairs).
-- Sources: cash_bank_norm, cash_invoice_norm, cash_aliases (payer_key, contact_id),
--          cash_rejected_pairs (line_id, invoice_id), cash_fx_rates.
WITH ref_hits AS (
    SELECT b.line_id, i.invoice_id, 'ref' AS found_by
    FROM (SELECT line_id, unnest(ref_numbers) AS inv_no FROM cash_bank_norm) b
    JOIN cash_invoice_norm i USING (inv_no)
    UNION
    SELECT b.line_id, i.invoice_id, 'ref'
    FROM (SELECT line_id, unnest(ref_ours) AS ref_upper FROM cash_bank_norm) b
    JOIN cash_invoice_norm i USING (ref_upper)
), name_hits AS (
    -- the same first three letters of each of the first two words (which also covers the same name key
    -- and the same first two words); a one-word name by its whole key; a known alias
    SELECT b.line_id, i.invoice_id, 'name' AS found_by
    FROM cash_bank_norm b JOIN cash_invoice_norm i ON b.payer_stem = i.contact_stem
    WHERE strpos(b.payer_stem, ' ') > 0
      AND b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
    UNION ALL
    SELECT b.line_id, i.invoice_id, 'name'
    FROM cash_bank_norm b JOIN cash_invoice_norm i ON b.payer_key = i.contact_key
    WHERE b.payer_key <> '' AND strpos(b.payer_key, ' ') = 0
      AND b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
    UNION ALL
    SELECT b.line_id, i.invoice_id, 'name'
    FROM cash_bank_norm b JOIN cash_aliases a ON a.payer_key = b.payer_key
    JOIN cash_invoice_norm i ON i.contact_id = a.contact_id
    WHERE b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
), amount_hits AS (
    -- an amount many open invoices share (a retainer's monthly fee) says nothing without the name: those
    -- pairs come from the name joins or not at all
    SELECT b.line_id, i.invoice_id, 'amount' AS found_by
    FROM cash_bank_norm b
    JOIN (SELECT invoice_id, currency, amount_due_minor, date,
                 count(*) OVER (PARTITION BY currency, amount_due_minor) AS sharing
          FROM cash_invoice_norm) i
      ON b.currency = i.currency AND b.amount_minor = i.amount_due_minor
    WHERE i.sharing <= $max_amount_candidates
      AND b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
), found AS (
    SELECT line_id, invoice_id,
           bool_or(found_by = 'ref') AS by_ref,
           bool_or(found_by = 'name') AS by_name
    FROM (SELECT * FROM ref_hits UNION ALL SELECT * FROM name_hits UNION ALL SELECT * FROM amount_hits)
    GROUP BY line_id, invoice_id
), pairs AS MATERIALIZED (
    SELECT f.*, b.currency = i.currency AND b.amount_minor = i.amount_due_minor AS by_amount, b.date AS line_date, b.amount_minor AS line_amount_minor, b.currency AS line_currency,
           b.payer_key, i.contact_key, i.contact_id, i.currency AS invoice_currency, i.amount_due_minor,
           i.total_minor, i.date AS invoice_date, i.inv_no,
           len(b.digit_tokens) > 0 AND list_contains(b.digit_tokens, i.inv_no) AS digits_hit,
           len(b.ref_fuzzy_keys) > 0 AND NOT f.by_ref AND list_has_any(b.ref_fuzzy_keys, i.ref_fuzzy_keys) AS by_fuzzy,
           al.contact_id IS NOT NULL AS alias_hit
    FROM found f
    JOIN cash_bank_norm b USING (line_id)
    JOIN cash_invoice_norm i USING (invoice_id)
    LEFT JOIN cash_aliases al ON al.payer_key = b.payer_key AND al.contact_id = i.contact_id
    WHERE b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
      AND NOT EXISTS (SELECT 1 FROM cash_rejected_pairs r WHERE r.line_id = f.line_id AND r.invoice_id = f.invoice_id)
), similarity AS (  -- once per distinct pair of names, not per pair of records
    SELECT payer_key, contact_key, jaro_winkler_similarity(payer_key, contact_key) AS name_similarity
    FROM (SELECT DISTINCT payer_key, contact_key FROM pairs)
)
SELECT
    p.line_id, p.invoice_id, p.by_ref, p.by_fuzzy, p.by_name, p.by_amount, p.digits_hit, p.alias_hit,
    p.line_date, p.line_amount_minor, p.line_currency, p.invoice_currency, p.amount_due_minor, p.total_minor,
    p.invoice_date, p.contact_id,
    s.name_similarity,
    p.payer_key = p.contact_key OR p.alias_hit AS same_counterparty,
    CAST(p.line_date - p.invoice_date AS INTEGER) AS days_after_invoice,
    CASE WHEN p.invoice_currency = p.line_currency THEN p.amount_due_minor
         ELSE CAST(round(p.amount_due_minor * fx.minor_rate) AS BIGINT) END AS expected_line_minor
FROM pairs p
JOIN similarity s USING (payer_key, contact_key)
ASOF LEFT JOIN cash_fx_rates fx
    ON fx.from_currency = p.invoice_currency AND fx.to_currency = p.line_currency AND p.line_date >= fx.rate_date
-- a big customer's line has hundreds of invoices found by name alone: keep those closest in amount and in date
QUALIFY p.by_ref OR p.by_amount OR p.by_fuzzy OR p.digits_hit
     OR row_number() OVER (PARTITION BY p.line_id, p.by_ref OR p.by_amount OR p.by_fuzzy OR p.digits_hit
                           ORDER BY abs(p.line_amount_minor - coalesce(expected_line_minor, 0)), p.invoice_id)
        <= $max_name_candidates
     OR row_number() OVER (PARTITION BY p.line_id, p.by_ref OR p.by_amount OR p.by_fuzzy OR p.digits_hit
                           ORDER BY abs(CAST(p.line_date - p.invoice_date AS INTEGER) - 20), p.invoice_id)
        <= $max_name_candidates
ORDER BY p.line_id, p.invoice_id
