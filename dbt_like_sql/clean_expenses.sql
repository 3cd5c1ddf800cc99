-- clean_expenses: every raw expense of the partition, typed, mapped to canonical ids, with its markup and
-- exactly one disposition (billable | non_billable | held | quarantined) and, unless billable, the reason.
-- A negative amount is a refund: billed as a negative line of its own, never netted into another expense.
-- Markup precedence: the project's (mapping: projects.expense_markup_percent) > the project system's own on
-- the expense (when $use_source_markup) > the entity's (mapping: expenses.markup_percent).
-- Sources: raw_expenses (with source_problem, NULL in extracts written before it), map_clients, map_projects (the mapping document as relations, built by services.billing).
-- Shared with clean_time_entries: the billing_* macros of macros/billing.sql (unknown client / project,
-- source non-billable reasons, disposition and its reason).
-- Parameters: $entity, $period, $period_start, $period_end, $today, $require_approval, $currencies,
-- $locked_through, $strict_clients, $strict_projects, $use_source_markup, $expense_markup_percent.
WITH typed AS (
    SELECT
        r.*,
        TRY_CAST(r.spent_date AS DATE) AS d,
        mc.client_id AS canonical_client_id,
        mc.client_name AS canonical_client_name,
        mc.internal AS client_internal,
        coalesce(mc.invoice_currency, r.client_currency) AS invoice_currency,
        mp.project_id IS NOT NULL AS project_mapped,
        coalesce(mp.billing, 'hourly') AS project_billing,
        mp.project_name AS mapped_project_name,
        mp.expense_markup_percent AS project_markup_percent
    FROM raw_expenses AS r
    LEFT JOIN map_clients AS mc ON mc.source_client_id = r.client_id
    LEFT JOIN map_projects AS mp ON mp.project_id = r.project_id
),
marked AS (
    SELECT
        t.*,
        CAST(coalesce(t.project_markup_percent,
                      CASE WHEN $use_source_markup THEN t.markup_percent END,
                      CAST($expense_markup_percent AS DECIMAL(9, 4))) AS DECIMAL(9, 4)) AS markup,
        CASE
            WHEN t.project_markup_percent IS NOT NULL THEN 'project:' || t.project_id
            WHEN $use_source_markup AND t.markup_percent IS NOT NULL THEN 'source_system'
            ELSE 'entity'
        END AS markup_source
    FROM typed AS t
),
judged AS (
    SELECT
        t.*,
        coalesce(
            CASE
                WHEN t.source_problem IS NOT NULL THEN 'unreadable source record: ' || t.source_problem
                WHEN t.d IS NULL THEN 'invalid spent_date ' || coalesce(t.spent_date, 'null')
                WHEN t.d > CAST($today AS DATE) THEN 'future date ' || CAST(t.d AS VARCHAR)
                WHEN t.d < CAST($period_start AS DATE) OR t.d > CAST($period_end AS DATE)
                    THEN 'date ' || CAST(t.d AS VARCHAR) || ' outside billing period ' || $period
                WHEN t.d <= TRY_CAST($locked_through AS DATE)
                    THEN 'locked period: expenses up to ' || $locked_through || ' are closed'
                WHEN t.total_cost IS NULL OR t.total_cost = 0
                    THEN 'zero or missing amount ' || coalesce(CAST(t.total_cost AS VARCHAR), 'null')
            END,
            billing_unknown_party_reason(t.client_id, t.canonical_client_id, $strict_clients, t.project_id,
                                         t.project_mapped, $strict_projects, 'expense'),
            CASE
                WHEN t.client_currency IS NULL OR NOT list_contains($currencies, t.client_currency)
                    THEN 'unknown currency ' || coalesce(t.client_currency, 'null')
                WHEN NOT list_contains($currencies, t.invoice_currency)
                    THEN 'unknown currency ' || t.invoice_currency
            END) AS quarantine_reason,
        billing_source_non_billable_reason(t.billed_elsewhere, t.billable, t.client_internal, t.project_billing)
            AS non_billable_reason
    FROM marked AS t
)
SELECT
    $entity AS entity,
    $period AS period,
    expense_id,
    CAST(d AS VARCHAR) AS spent_date,
    spent_date AS source_spent_date,
    coalesce(canonical_client_id, client_id) AS client_id,
    client_id AS source_client_id,
    coalesce(canonical_client_name, client_name) AS client_name,
    project_id,
    coalesce(mapped_project_name, project_name) AS project_name,
    category,
    user_id,
    user_name,
    client_currency AS currency,
    invoice_currency,
    CAST(total_cost AS DECIMAL(18, 6)) AS total_cost,
    markup AS markup_percent,
    markup_source,
    approved_by,
    approved_at,
    receipt_url,
    billing_disposition(quarantine_reason, non_billable_reason, $require_approval, is_closed) AS disposition,
    billing_disposition_reason(quarantine_reason, non_billable_reason, $require_approval, is_closed, approval_status)
        AS reason
FROM judged
