-- cash_aliases: payer names known to belong to a contact (rule templates, accepted workbench decisions),
-- as name keys. Sources: cash_alias_names (payer_name, contact_id).
SELECT DISTINCT cash_name_key(payer_name) AS payer_key, contact_id
FROM cash_alias_names
WHERE cash_name_key(payer_name) <> ''
