-- cash_candidates: bank line × open invoice pairs worth scoring, with how each was found and the
-- features the cascade decides on. A pair is a candidate when, within the date window
-- (invoice date - $days_before .. invoice date + $days_after):
--   ref     the bank text carries the invoice number or our reference (normalised);
--   digits  the bank text carries the invoice number's bare digits;
--   fuzzy   the payer is the contact and the text carries a number one typo away from the invoice's
--           (transposed, substituted, dropped or added digit, leading zeros counted);
--   name    the payer is the contact: a known alias, or a name sharing the first (or the last) three letters of
--           each of its first two words with the contact's and at least $min_name_similarity similar
--           (Jaro-Winkler on the name keys) — resolved once per distinct pair of names, not per pair of records;
--   amount  the amount is exactly the amount due, in the same currency (an amount more than
--           $max_amount_candidates open invoices share finds nothing by itself).
-- Pairs found by name alone are capped per line ($max_name_candidates closest in amount, and as many closest
-- in date); the cap is taken on narrow rows before the features are joined. Rows come in no particular order.
-- Pairs the workbench rejected are never candidates again (cash_rejected_pairs).
-- Sources: cash_bank_norm, cash_invoice_norm, cash_aliases (payer_key, contact_id),
--          cash_rejected_pairs (line_id, invoice_id), cash_fx_rates.
WITH contacts AS (
    SELECT DISTINCT contact_id, contact_key, contact_stem, contact_tail FROM cash_invoice_norm
), payers AS (
    SELECT DISTINCT payer_key, payer_stem, payer_tail FROM cash_bank_norm WHERE payer_key <> ''
), name_blocks AS (
    SELECT p.payer_key, c.contact_id, c.contact_key FROM payers p JOIN contacts c ON p.payer_stem = c.contact_stem
    WHERE strpos(p.payer_stem, ' ') > 0
    UNION
    SELECT p.payer_key, c.contact_id, c.contact_key FROM payers p JOIN contacts c ON p.payer_tail = c.contact_tail
    WHERE strpos(p.payer_tail, ' ') > 0
    UNION
    SELECT p.payer_key, c.contact_id, c.contact_key FROM payers p JOIN contacts c ON p.payer_key = c.contact_key
), payer_contacts AS MATERIALIZED (  -- who a payer name may be: similar names, and aliases
    SELECT payer_key, contact_id, max(name_similarity) AS name_similarity, bool_or(alias_hit) AS alias_hit
    FROM (
        SELECT payer_key, contact_id, jaro_winkler_similarity(payer_key, contact_key) AS name_similarity,
               FALSE AS alias_hit
        FROM name_blocks
        UNION ALL
        SELECT a.payer_key, a.contact_id, coalesce(jaro_winkler_similarity(a.payer_key, c.contact_key), 0.0), TRUE
        FROM cash_aliases a JOIN contacts c USING (contact_id)
    )
    GROUP BY payer_key, contact_id
    HAVING bool_or(alias_hit) OR max(name_similarity) >= $min_name_similarity
), name_pairs AS (  -- narrow: what the cap needs
    SELECT b.line_id, i.invoice_id,
           abs(b.amount_minor - coalesce(CASE WHEN b.currency = i.currency THEN i.amount_due_minor
                                              ELSE i.due_bank_minor END, 0)) AS amount_gap,
           abs(CAST(b.date - i.date AS INTEGER) - 20) AS date_gap
    FROM cash_bank_norm b
    JOIN payer_contacts pc USING (payer_key)
    JOIN cash_invoice_norm i ON i.contact_id = pc.contact_id
    WHERE b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
), name_hits AS (  -- top-N aggregates, not a sort of every partition
    SELECT line_id, unnest(list_distinct(list_concat(
               min_by(invoice_id, {'gap': amount_gap, 'id': invoice_id}, $max_name_candidates),
               min_by(invoice_id, {'gap': date_gap, 'id': invoice_id}, $max_name_candidates)))) AS invoice_id,
           'name' AS found_by
    FROM name_pairs
    GROUP BY line_id
), ref_hits AS (
    SELECT b.line_id, i.invoice_id, 'ref' AS found_by
    FROM (SELECT line_id, unnest(ref_numbers) AS inv_no FROM cash_bank_norm) b
    JOIN cash_invoice_norm i USING (inv_no)
    UNION
    SELECT b.line_id, i.invoice_id, 'ref'
    FROM (SELECT line_id, unnest(ref_ours) AS ref_upper FROM cash_bank_norm) b
    JOIN cash_invoice_norm i USING (ref_upper)
), digit_hits AS (
    SELECT b.line_id, i.invoice_id, 'digits' AS found_by
    FROM (SELECT line_id, unnest(digit_tokens) AS inv_no FROM cash_bank_norm) b
    JOIN cash_invoice_norm i USING (inv_no)
), fuzzy_hits AS (  -- the payer's invoices one typo away, by equal keys (no list comparison per pair)
    SELECT DISTINCT lk.line_id, ik.invoice_id, 'fuzzy' AS found_by
    FROM (SELECT b.line_id, pc.contact_id, unnest(b.ref_fuzzy_keys) AS k
          FROM cash_bank_norm b JOIN payer_contacts pc USING (payer_key)
          WHERE len(b.ref_fuzzy_keys) > 0) lk
    JOIN (SELECT invoice_id, contact_id, unnest(ref_fuzzy_keys) AS k FROM cash_invoice_norm) ik
      ON ik.contact_id = lk.contact_id AND ik.k = lk.k
), amount_hits AS (
    -- an amount many open invoices share (a retainer's monthly fee) says nothing without the name: those
    -- pairs come from the name join or not at all
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
           bool_or(found_by = 'name') AS by_name,
           bool_or(found_by = 'digits') AS digits_hit,
           bool_or(found_by = 'fuzzy') AND NOT bool_or(found_by = 'ref') AS by_fuzzy
    FROM (SELECT * FROM name_hits UNION ALL SELECT * FROM ref_hits UNION ALL SELECT * FROM digit_hits
          UNION ALL SELECT * FROM fuzzy_hits UNION ALL SELECT * FROM amount_hits)
    GROUP BY line_id, invoice_id
), pairs AS MATERIALIZED (
    SELECT f.*, b.currency = i.currency AND b.amount_minor = i.amount_due_minor AS by_amount,
           b.date AS line_date, b.amount_minor AS line_amount_minor, b.currency AS line_currency,
           b.payer_key, i.contact_key, i.contact_id, i.currency AS invoice_currency, i.amount_due_minor,
           i.total_minor, i.date AS invoice_date,
           coalesce(pc.alias_hit, FALSE) AS alias_hit,
           coalesce(pc.name_similarity, jaro_winkler_similarity(b.payer_key, i.contact_key)) AS name_similarity
    FROM found f
    JOIN cash_bank_norm b USING (line_id)
    JOIN cash_invoice_norm i USING (invoice_id)
    LEFT JOIN payer_contacts pc ON pc.payer_key = b.payer_key AND pc.contact_id = i.contact_id
    WHERE b.date BETWEEN i.date - CAST($days_before AS INTEGER) AND i.date + CAST($days_after AS INTEGER)
      AND NOT EXISTS (SELECT 1 FROM cash_rejected_pairs r WHERE r.line_id = f.line_id AND r.invoice_id = f.invoice_id)
), priced AS (
    SELECT p.*, p.amount_due_minor AS expected_line_minor
    FROM pairs p
    WHERE p.invoice_currency = p.line_currency
    UNION ALL  -- only pairs in two currencies need the day's rate
    SELECT p.*, CAST(round(p.amount_due_minor * fx.minor_rate) AS BIGINT) AS expected_line_minor
    FROM (SELECT * FROM pairs WHERE invoice_currency <> line_currency) p
    ASOF LEFT JOIN cash_fx_rates fx
        ON fx.from_currency = p.invoice_currency AND fx.to_currency = p.line_currency AND p.line_date >= fx.rate_date
)
SELECT
    line_id, invoice_id, by_ref, by_fuzzy, by_name, by_amount, digits_hit, alias_hit,
    line_date, line_amount_minor, line_currency, invoice_currency, amount_due_minor, total_minor,
    invoice_date, contact_id,
    name_similarity,
    payer_key = contact_key OR alias_hit AS same_counterparty,
    CAST(line_date - invoice_date AS INTEGER) AS days_after_invoice,
    expected_line_minor
FROM priced
