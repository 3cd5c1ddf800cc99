-- finance_cost_lines: every expense/bill line of the entity's period, classified early into exactly one
-- disposition: shared (feeds a cost pool) | direct (a project's own expense) | capex (capitalized, never
-- allocated as a period cost) | unpooled (opex in no pool: entity overhead, reported) | quarantined (with reason).
-- Capex lines carry their capitalization and depreciation codes; intercompany lines their counterparty.
-- Sources: shared_cost_lines, finance_accounts, finance_pool_accounts, finance_ic. Parameters: $currencies.
WITH classified AS (
    SELECT
        l.*,
        a.expense_class,
        a.capitalization_code,
        a.depreciation_code,
        a.depreciation_months,
        pa.pool_key,
        ic.counterparty AS ic_counterparty,
        CASE
            WHEN l.amount_minor IS NULL THEN 'missing amount'
            WHEN l.currency IS NULL OR NOT list_contains($currencies, l.currency)
                THEN 'unknown currency ' || coalesce(l.currency, 'null')
            WHEN l.account_code IS NULL THEN 'missing account code'
            WHEN a.code IS NULL
                THEN 'account ' || l.account_code || ' is not classified as opex or capex in the finance configuration'
            WHEN TRY_CAST(l.date AS DATE) IS NULL THEN 'invalid date ' || coalesce(l.date, 'null')
        END AS quarantine_reason
    FROM shared_cost_lines AS l
    LEFT JOIN finance_accounts AS a ON a.code = l.account_code
    LEFT JOIN finance_pool_accounts AS pa ON pa.account_code = l.account_code
    LEFT JOIN finance_ic AS ic ON ic.contact_name = l.contact_name
)
SELECT
    entity,
    period,
    line_id,
    source,
    document_id,
    document_number,
    document_reference,
    line_item_id,
    line_no,
    date,
    contact_id,
    contact_name,
    description,
    account_code,
    tracking,
    project_ref,
    currency,
    amount_minor,
    tax_minor,
    CASE WHEN quarantine_reason IS NULL THEN expense_class END AS expense_class,
    CASE WHEN quarantine_reason IS NULL AND expense_class = 'capex' THEN capitalization_code END AS capitalization_code,
    CASE WHEN quarantine_reason IS NULL AND expense_class = 'capex' THEN depreciation_code END AS depreciation_code,
    CASE WHEN quarantine_reason IS NULL AND expense_class = 'capex'
        THEN CAST(depreciation_months AS BIGINT) END AS depreciation_months,
    CASE WHEN quarantine_reason IS NULL AND expense_class = 'opex' AND project_ref IS NULL THEN pool_key END AS pool_key,
    ic_counterparty,
    CASE
        WHEN quarantine_reason IS NOT NULL THEN 'quarantined'
        WHEN expense_class = 'capex' THEN 'capex'
        WHEN project_ref IS NOT NULL THEN 'direct'
        WHEN pool_key IS NOT NULL THEN 'shared'
        ELSE 'unpooled'
    END AS disposition,
    CASE
        WHEN quarantine_reason IS NOT NULL THEN quarantine_reason
        WHEN expense_class = 'capex' THEN 'capitalized as ' || capitalization_code || ', depreciated ' || depreciation_code
        WHEN project_ref IS NOT NULL THEN 'direct expense of project ' || project_ref
        WHEN pool_key IS NOT NULL THEN 'shared cost in pool ' || pool_key
        ELSE 'opex account ' || account_code || ' feeds no cost pool: entity overhead, not allocated to projects'
    END AS reason
FROM classified
ORDER BY line_id
