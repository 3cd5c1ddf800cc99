"""What every stored column is: personal, financial, operational or secret — one place, used by protection.

Four classes:

============  ===========================================================================================
personal      identifies or describes a natural person: names, emails, their source ids, who approved or
              decided something, free-text notes, bank payer names, session and login records
financial     money and what gives it meaning: amounts, rates, currencies, tax, documents and their numbers,
              counterparties (clients, contacts), accounts
operational   how the pipeline runs: keys, ids of records, partitions, statuses, timestamps, hashes of content
secret        credentials and key material (password hashes, token hashes, wrapped keys, CSRF secrets)
============  ===========================================================================================

A column's class comes from :data:`TABLE_COLUMNS` (a table or contract's own entry) or else :data:`COLUMNS` (a
name that means the same everywhere). ``sync_pipeline_tests/contracts/test_classification.py`` derives every
column from the pandera contracts and from the live operational-store schema and fails when one has no class,
so a new column is classified when it is added.

:data:`PROTECTED` says how personal and secret data is kept at rest (``docs/data-protection.md``):
``pseudonym`` (the warehouse holds a stable pseudonym, the identity is in ``person_identities`` under the
person's key), ``person_key`` (encrypted under the person's own key: erased with it), ``encrypted`` (the store's
field key, rotated by ``sync-pipeline keys``; in the warehouse too, :data:`WAREHOUSE_ENCRYPTED`), ``keyed_hash``
(an HMAC under the pseudonym key, compared and never read back), ``hashed`` (only a one-way hash is stored), ``wrapped`` (key
material wrapped by a master key kept outside the data).
"""

from __future__ import annotations

PERSONAL, FINANCIAL, OPERATIONAL, SECRET = "personal", "financial", "operational", "secret"
CLASSES = (PERSONAL, FINANCIAL, OPERATIONAL, SECRET)


def _all(cls: str, names: str) -> dict[str, str]:
    return {n: cls for n in names.split()}


# A column name that means the same in every contract and table.
COLUMNS: dict[str, str] = {
    **_all(PERSONAL, """
        user_id user_name approved_by document_approved_by plan_approved_by notes note email source_person_id
        payer_name actor created_by decided_by proposed_by accepted_by changed_by granted_by rejected_by
        revoked_by destroyed_by triggered_by set_by released_by person
    """),
    **_all(FINANCIAL, """
        account account_code acquisition_date allocated_minor allocated_reporting_minor amount_credited_minor
        amount_due_minor amount_functional_minor amount_kind amount_minor amount_paid_minor
        amount_reporting_minor applied_minor average_minor_rate average_rate bank_account_code bank_reference
        base_currency base_rate base_rate_date base_rate_source base_reference base_retrieved_at billable
        billable_percent billable_rate billed_hours billed_tu billed_value capitalization_code category
        charge_minor charge_period client_currency client_id client_name closing_minor_rate closing_rate
        closing_rate_date consolidated_minor contact_id contact_name contact_number cost_minor cost_rate
        cost_type counterparty credit_note_id credited_minor currency currency_rate day_hours delta_minor
        depreciation_code depreciation_months diff_minor direct_expense_minor direct_expense_reporting_minor
        direct_labour_minor direct_labour_reporting_minor driver driver_quantity driver_total due_date
        eliminations_minor entities_reporting_minor expense_class functional_currency functional_minor fx_rate
        fx_rate_date fx_rate_source fx_retrieved_at hours hours_per_day hours_without_cost_rate
        ic_counterparty invoice_currency invoice_id invoice_number invoiced_minor item_code
        line_amount_base_minor line_amount_minor line_amount_types line_currency line_share_minor list_rate
        margin_minor margin_reporting_minor markup_percent markup_source max_documents max_invoices
        max_total_minor movement_functional_minor movement_reporting_minor number opening_functional_minor
        opening_minor_rate opening_rate opening_rate_date opening_reporting_minor payment_id payment_reference
        project_code project_id project_name project_ref quantity quote_currency rate rate_date rate_source
        rate_type remaining_credit_minor remeasure_rate remeasure_rate_source reporting_currency
        retainer_hours retainer_tu revenue_minor revenue_reporting_minor rounding_increment_tu rounding_mode
        rounding_remainder rounding_scope source_client_id source_currency source_functional_minor
        source_minor source_rate source_value subtotal_minor target_minor target_payment_id task_id task_name
        tax_amount_minor tax_minor tax_rate_percent tax_type total_cost total_minor total_tax_minor tracking
        tracking_category tracking_option transaction_currency transaction_minor translation_difference_minor
        unit unit_amount units value worked_hours worked_tu writeoff_account writeoff_minor average_days
        average_first_date average_last_date rate_days rate_first_date rate_last_date rate_retrieved_at
        line_no line_item_id document_number document_reference description duplicate_name keep_name
        original_reference reference refund source_count target_count entry_count line_count entries
        entries_without_cost_rate invoice_key document_id document_key doc_key group_key is_billed
        billed_elsewhere receipt_url statement totals documents applied settlement_id fully_paid_on
        got_remainder_unit spent_date source_spent_date
    """),
    **_all(OPERATIONAL, """
        entity period source entry_id expense_id extracted_at updated_at created_at started_at timezone
        approval_status approved_at is_closed source_problem disposition reason kind status level key breach
        detail line_id outcome rule confidence explanation candidates error dead_letter_id run_id line_key
        fingerprint recorded_at marked_at marked_in_source_at role op ours live pair partial held status_after
        pulled_at date doc_kind document_kind revision month_no pool_key allocation_version entities score
        standardized how_to_accept keep_id duplicate_id action how source_entry_ids source_id retrieved_at
        decided_at proposed_at accepted_at changed_at granted_at rejected_at revoked_at resolved_at
        destroyed_at retired_at expires_at last_used_at last_seen_at ended_at posted_at event_at received_at
        last_received_at at day comment decision decision_kind id seq stream subject event_id prev_hash hash
        plan_hash payload_hash mapping_hash idempotency_key op_hashes content version posting_enabled
        target_id target_number target_status last_op original_key operation error_detail attempts
        source_records resolution plan_approved_at posted_run_id cursor records resource resource_id
        resource_url event_key event_type tenant_id deliveries template_id params model line_date decision_id
        purpose text ticket name session_id ended_why stamp flash client disabled scopes token_id kek_id
        key_id pseudonym password_changed_at set_at released_at release_reason system document status_seen
        detail_hash access_expires_at refresh_expires_at trace_id
    """),
    **_all(SECRET, "password_hash secret_sha256 csrf wrapped refresh_token access_token"),
}

# A table's (operational store) or contract's (pandera model class name) own meaning of a column name.
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "sync_ledger": {"payload": PERSONAL},  # the document last sent: line descriptions, approvers
    "dead_letters": {"payload": PERSONAL},
    "webhook_events": {"payload": OPERATIONAL},  # the provider's event (ids only)
    "users": {"name": PERSONAL, "kind": OPERATIONAL},
    "user_roles": {"name": PERSONAL},
    "api_tokens": {"name": OPERATIONAL, "note": OPERATIONAL},
    "workbench_sessions": {"user_name": PERSONAL, "client": PERSONAL},  # the browser's address and agent
    "workbench_login_failures": {"key": PERSONAL},  # the user name or address that failed
    "person_identities": {"name": PERSONAL, "source": OPERATIONAL},
    # explanations and candidates quote payer and contact names (a payer may be a person)
    "cash_decisions": {"description": PERSONAL, "explanation": PERSONAL, "candidates": PERSONAL},
    "cash_payer_aliases": {"source": OPERATIONAL},
    "cash_decision_events": {"text": PERSONAL, "detail": PERSONAL},
    "audit_events": {"detail": PERSONAL, "subject": PERSONAL},  # may name a person; append-only by design
    "hours_day_decisions": {"note": PERSONAL},
    "run_tickets": {"ticket": SECRET},
    "BankLine": {"description": PERSONAL},
    "RawTimeEntry": {"notes": PERSONAL},
    "RawExpense": {"notes": PERSONAL},
    "cash_rule_templates": {"name": OPERATIONAL, "params": PERSONAL},  # payer_contains may name a person
    "alert_incidents": {"acknowledged_by": PERSONAL, **{c: OPERATIONAL for c in (
        "incident_key objective team state severity summary opened_at breach_at notified_severity escalation_level "
        "escalated_at acknowledged_at silenced_until cleared_at occurrences").split()}},
}

# How personal and secret data is protected at rest, by (table or contract, column).
PROTECTED: dict[tuple[str, str], str] = {
    **{(c, col): "pseudonym" for c in ("RawTimeEntry", "RawExpense", "CleanTimeEntry", "CleanExpense")
       for col in ("user_name", "approved_by")},
    **{(c, "approved_by"): "pseudonym" for c in ("Billable", "ExpenseBillable", "InvoiceDraftLine",
                                                 "PostedInvoice")},
    ("RawTimeEntry", "notes"): "person_key",
    ("RawExpense", "notes"): "person_key",
    ("person_identities", "name"): "person_key",
    ("person_identities", "email"): "person_key",
    ("person_identities", "source_person_id"): "person_key",
    ("sync_ledger", "payload"): "encrypted",
    ("dead_letters", "payload"): "encrypted",
    ("cash_decisions", "payer_name"): "encrypted",
    ("cash_decisions", "description"): "encrypted",
    ("cash_decisions", "explanation"): "encrypted",
    ("cash_decisions", "candidates"): "encrypted",
    ("hours_day_decisions", "note"): "encrypted",
    ("cash_rule_templates", "params"): "encrypted",
    ("cash_payer_aliases", "payer_name"): "keyed_hash",
    ("BankLine", "payer_name"): "encrypted",  # warehouse: the store's field key, context asset.column
    ("BankLine", "description"): "encrypted",
    ("oauth_tokens", "refresh_token"): "encrypted",
    ("oauth_tokens", "access_token"): "encrypted",
    ("users", "password_hash"): "hashed",
    ("api_tokens", "secret_sha256"): "hashed",
    ("data_keys", "wrapped"): "wrapped",
    ("person_keys", "wrapped"): "wrapped",
}


def class_of(table: str, column: str) -> str | None:
    """The class of ``table.column`` (a store table name or a contract class name); None: unclassified."""
    return TABLE_COLUMNS.get(table, {}).get(column) or COLUMNS.get(column)


def encrypted_columns() -> list[tuple[str, str]]:
    """The operational-store columns encrypted with the field key (what ``keys reencrypt`` walks)."""
    return sorted((t, c) for (t, c), how in PROTECTED.items() if how == "encrypted" and t[:1].islower())


#: warehouse assets whose columns are encrypted under the store's field key (context ``asset.column``); every
#: ``*_quarantine`` asset too: the value quoted as read (``value``) and the raw export row (``raw``)
WAREHOUSE_ENCRYPTED: dict[str, tuple[str, ...]] = {"bank_statement_lines": ("payer_name", "description")}
QUARANTINE_ENCRYPTED = ("value", "raw")


def warehouse_encrypted(asset: str) -> tuple[str, ...]:
    """The columns of ``asset`` (a warehouse asset name) kept encrypted under the field key."""
    if asset.endswith("_quarantine"):
        return QUARANTINE_ENCRYPTED
    return WAREHOUSE_ENCRYPTED.get(asset, ())
