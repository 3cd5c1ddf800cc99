-- cash_aliases: payer names known to belong to a contact, as name keys: the ones people gave (rule
-- templates, accepted workbench decisions: cash_alias_names) and the ones this run learned from its own
-- unambiguous receipts (cash_learned_aliases) where no person said otherwise for that payer name.
-- Sources: cash_alias_names (payer_name, contact_id), cash_learned_aliases.
WITH given AS (
    SELECT DISTINCT cash_name_key(payer_name) AS payer_key, contact_id
    FROM cash_alias_names
    WHERE cash_name_key(payer_name) <> ''
)
SELECT payer_key, contact_id, FALSE AS learned FROM given
UNION ALL
SELECT payer_key, contact_id, TRUE AS learned FROM cash_learned_aliases
WHERE payer_key NOT IN (SELECT payer_key FROM given)
