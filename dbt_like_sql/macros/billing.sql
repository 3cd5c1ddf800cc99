-- Macros for the billing models (created by sync_pipeline.services.billing.connect before they run).
-- Each statement ends with ';' on its own line end; values are never formatted in.

-- Time units (tu) rounded to an increment: 'up', 'down', else to the nearest (half up). No increment: as is.
CREATE OR REPLACE TEMP MACRO billing_round_tu(tu, inc, mode) AS
    CASE
        WHEN inc IS NULL THEN tu
        WHEN mode = 'up' THEN ((tu + inc - 1) // inc) * inc
        WHEN mode = 'down' THEN (tu // inc) * inc
        ELSE ((tu + inc // 2) // inc) * inc
    END;

-- Why an entry / expense names no known client or project (NULL: it does). `noun`: 'entry' or 'expense'.
-- Strict checks apply when the mapping lists clients / projects at all.
CREATE OR REPLACE TEMP MACRO billing_unknown_party_reason(client_id, canonical_client_id, strict_clients,
                                                          project_id, project_mapped, strict_projects, noun) AS
    CASE
        WHEN client_id IS NULL THEN 'unknown client (no client on the ' || noun || ')'
        WHEN strict_clients AND canonical_client_id IS NULL
            THEN 'unknown client ' || client_id || ': add it (or an alias) to the mapping''s clients'
        WHEN project_id IS NULL THEN 'unknown project (no project on the ' || noun || ')'
        WHEN strict_projects AND NOT project_mapped
            THEN 'unknown project ' || project_id || ': add it to the mapping''s projects'
    END;

-- Why the project system or the mapping says not to bill it (NULL: nothing says so). Invoiced on the other
-- side (an invoice of the project system itself) comes first: never billed twice.
CREATE OR REPLACE TEMP MACRO billing_source_non_billable_reason(billed_elsewhere, billable, client_internal,
                                                                project_billing) AS
    CASE
        WHEN billed_elsewhere IS NOT NULL THEN 'already invoiced in the project system: ' || billed_elsewhere
        WHEN billable = false THEN 'marked non-billable in the project system'
        WHEN client_internal THEN 'internal client (mapping: clients.internal)'
        WHEN project_billing = 'non_billable' THEN 'non-billable project (mapping: projects.billing)'
    END;

-- The one disposition of a cleaned entry or expense, and its reason (NULL when billable): quarantine first,
-- then non-billable, then held for approval when the entity requires it.
CREATE OR REPLACE TEMP MACRO billing_disposition(quarantine_reason, non_billable_reason, require_approval,
                                                 is_closed) AS
    CASE
        WHEN quarantine_reason IS NOT NULL THEN 'quarantined'
        WHEN non_billable_reason IS NOT NULL THEN 'non_billable'
        WHEN require_approval AND NOT is_closed THEN 'held'
        ELSE 'billable'
    END;

CREATE OR REPLACE TEMP MACRO billing_disposition_reason(quarantine_reason, non_billable_reason, require_approval,
                                                        is_closed, approval_status) AS
    CASE
        WHEN quarantine_reason IS NOT NULL THEN quarantine_reason
        WHEN non_billable_reason IS NOT NULL THEN non_billable_reason
        WHEN require_approval AND NOT is_closed
            THEN 'awaiting approval' || coalesce(' (' || approval_status || ' in the project system)', '')
    END;
