-- Macros for the cash-matching models (created by sync_pipeline.services.cash_matching before they run).
-- Each statement ends with ';' on its own line end; values are never formatted in.

-- A counterparty name as a comparable key: lower case, punctuation to spaces, legal forms dropped.
-- "ACME CORP. LTD" and "Acme Corp Limited" both give "acme".
CREATE OR REPLACE TEMP MACRO cash_name_key(s) AS
    trim(regexp_replace(
        regexp_replace(regexp_replace(lower(coalesce(s, '')), '[^a-z0-9]+', ' ', 'g'),
                       '\b(ltd|limited|plc|llp|gmbh|sarl|bv|spa|ag|inc|llc|corp|co|the)\b', ' ', 'g'),
        '\s+', ' ', 'g'));

-- The first two words of the name key: "northwind logistics services" -> "northwind logistics".
CREATE OR REPLACE TEMP MACRO cash_name_prefix(s) AS
    array_to_string(list_slice(string_split(cash_name_key(s), ' '), 1, 2), ' ');

-- The first three letters of each of the first two words: "masive services" -> "mas ser".
CREATE OR REPLACE TEMP MACRO cash_name_stem(s) AS
    array_to_string(list_transform(list_slice(string_split(cash_name_key(s), ' '), 1, 2), lambda w: left(w, 3)), ' ');

-- The last three letters of each of the first two words: "nothwind logistics" -> "ind ics" (survives a typo
-- near the start of a word, where the stem does not).
CREATE OR REPLACE TEMP MACRO cash_name_tail(s) AS
    array_to_string(list_transform(list_slice(string_split(cash_name_key(s), ' '), 1, 2), lambda w: right(w, 3)), ' ');

-- Invoice numbers written in free text, normalised to their number: "INV-00123", "inv 0O123" and
-- "INV0123" all give 123 (O -> 0 and I/L -> 1 undo the usual OCR and typing confusions).
CREATE OR REPLACE TEMP MACRO cash_invoice_numbers(s) AS
    list_distinct(list_filter(list_transform(
        regexp_extract_all(upper(coalesce(s, '')), 'INV[^A-Z0-9]{0,2}[0-9OIL]{3,9}'),
        lambda x: TRY_CAST(translate(regexp_replace(x, '^INV[^A-Z0-9]*', ''), 'OIL', '011') AS BIGINT)),
        lambda x: x IS NOT NULL));

-- Our own references (SP-<entity>-<period>-C<client>-R<n>) written in free text, upper-cased.
CREATE OR REPLACE TEMP MACRO cash_our_references(s) AS
    list_distinct(regexp_extract_all(upper(coalesce(s, '')), 'SP-[A-Z0-9-]*-C[0-9]+-R[0-9]+'));

-- Bare numbers of 3 to 9 digits in free text (a customer writing "paying 1234").
CREATE OR REPLACE TEMP MACRO cash_digit_tokens(s) AS
    list_distinct(list_transform(regexp_extract_all(coalesce(s, ''), '\b[0-9]{3,9}\b'), lambda x: CAST(x AS BIGINT)));

-- The digit strings of the invoice numbers and bare numbers in free text, as written (leading zeros kept,
-- O/I/L read as 0/1/1): what the one-typo keys below are built from.
CREATE OR REPLACE TEMP MACRO cash_number_strings(s) AS
    list_distinct(list_concat(
        list_transform(regexp_extract_all(upper(coalesce(s, '')), 'INV[^A-Z0-9]{0,2}[0-9OIL]{3,9}'),
                       lambda x: translate(regexp_replace(x, '^INV[^A-Z0-9]*', ''), 'OIL', '011')),
        regexp_extract_all(coalesce(s, ''), '\b[0-9]{3,9}\b')));

-- Keys that equal when two digit strings differ by one typo: the sorted digits (a transposition), the
-- string with each position masked in turn ("12?45", a substituted digit), and the string with each
-- digit deleted in turn next to the string itself ("1245" from "12345", a dropped or added digit).
-- Leading zeros count: "INV-700416" is one typo away from "INV-000416".
CREATE OR REPLACE TEMP MACRO cash_fuzzy_number_keys(d) AS
    CASE WHEN d IS NULL OR length(d) < 3 THEN []::VARCHAR[] ELSE list_concat(
        ['s:' || array_to_string(list_sort(string_split(d, '')), ''), 'd:' || d],
        list_transform(range(1, length(d) + 1), lambda i: 'm:' || left(d, i - 1) || '?' || substr(d, i + 1)),
        list_filter(list_transform(range(1, length(d) + 1), lambda i: 'd:' || left(d, i - 1) || substr(d, i + 1)),
                    lambda k: length(k) >= 5))
    END;
