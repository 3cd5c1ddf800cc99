"""Warehouse contracts: one pandera DataFrameModel per asset boundary.

Conventions: money is integer minor units (``*_minor``) plus a currency column, or a
fixed-scale Decimal where sub-cent precision is needed (rates, unrounded values);
dates are ISO ``YYYY-MM-DD`` strings; instants ISO-8601 with an explicit offset.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine
from pandera.typing import Series

from sync_pipeline.domain.billing import xero_line

CONTRACT_VERSION = 1

ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
PERIOD = r"^\d{4}-\d{2}$"

Hours = pandas_engine.Decimal(12, 6)
Rate = pandas_engine.Decimal(18, 6)
Value = pandas_engine.Decimal(24, 8)
ExactValue = pandas_engine.Decimal(38, 12)  # hours (6 dp) x rate (6 dp), exact; converted values at 12 dp
Quantity4 = pandas_engine.Decimal(18, 4)  # the accounting system keeps 4 decimals of Quantity and UnitAmount
Percent = pandas_engine.Decimal(9, 4)
FxRateValue = pandas_engine.Decimal(28, 10)
HoursPerDay = pandas_engine.Decimal(6, 2)

DISPOSITIONS = ["billable", "non_billable", "held", "quarantined"]


class _Base(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


APPROVAL_STATUSES = ["unsubmitted", "submitted", "approved"]


class RawTimeEntry(_Base):
    """A time entry as extracted from the project system, flattened, types loose.

    v2: ``started_at`` (start instant with its UTC offset) and ``timezone`` (IANA), so an entry lands on its
    entity's local date; ``approval_status`` (Harvest's) and ``approved_by``/``approved_at`` (who approved the
    entry and when), which travel with its invoice line to the posted document. All nullable: a source that
    does not know them (CSV exports, Redmine) leaves them empty.
    """

    class Config(_Base.Config):
        metadata = {"contract_version": 2}

    source: Series[str]
    entry_id: Series[str] = pa.Field(unique=True)
    spent_date: Series[str] = pa.Field(nullable=True)
    user_id: Series[str] = pa.Field(nullable=True)
    user_name: Series[str] = pa.Field(nullable=True)
    client_id: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    client_currency: Series[str] = pa.Field(nullable=True)
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    project_code: Series[str] = pa.Field(nullable=True)
    task_id: Series[str] = pa.Field(nullable=True)
    task_name: Series[str] = pa.Field(nullable=True)
    hours: Series[Hours] = pa.Field(nullable=True)  # type: ignore[valid-type]
    billable: Series[bool]
    billable_rate: Series[Rate] = pa.Field(nullable=True)  # type: ignore[valid-type]
    cost_rate: Series[Rate] = pa.Field(nullable=True)  # type: ignore[valid-type]  # direct cost (finance)
    is_closed: Series[bool]
    notes: Series[str] = pa.Field(nullable=True)
    # invoiced other than by this pipeline (e.g. on an invoice of the project system): not billed again
    billed_elsewhere: Series[str] | None = pa.Field(nullable=True)
    # the source record did not read strictly (connectors.strict): "field: problem; ...". The row carries only the
    # entry's identity, so the entry is quarantined with this reason; never billed from a guess
    source_problem: Series[str] | None = pa.Field(nullable=True)
    updated_at: Series[str]
    extracted_at: Series[str]
    started_at: Series[str] = pa.Field(nullable=True)
    timezone: Series[str] = pa.Field(nullable=True)
    approval_status: Series[str] = pa.Field(nullable=True, isin=APPROVAL_STATUSES)
    approved_by: Series[str] = pa.Field(nullable=True)
    approved_at: Series[str] = pa.Field(nullable=True)


class RawExpense(_Base):
    """An expense as extracted from the project system, flattened. ``total_cost`` is in the client's currency
    (negative: a refund); ``markup_percent`` is the project system's own markup when it has one (the sandbox's
    ``x_markup_percent``); approvals as for time entries."""

    source: Series[str]
    expense_id: Series[str] = pa.Field(unique=True)
    spent_date: Series[str] = pa.Field(nullable=True)
    user_id: Series[str] = pa.Field(nullable=True)
    user_name: Series[str] = pa.Field(nullable=True)
    client_id: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    client_currency: Series[str] = pa.Field(nullable=True)
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    category: Series[str] = pa.Field(nullable=True)
    units: Series[Hours] = pa.Field(nullable=True)  # type: ignore[valid-type]
    total_cost: Series[Rate] = pa.Field(nullable=True)  # type: ignore[valid-type]
    markup_percent: Series[Percent] = pa.Field(nullable=True)  # type: ignore[valid-type]
    billable: Series[bool]
    is_closed: Series[bool]
    is_billed: Series[bool]
    approval_status: Series[str] = pa.Field(nullable=True, isin=APPROVAL_STATUSES)
    approved_by: Series[str] = pa.Field(nullable=True)
    approved_at: Series[str] = pa.Field(nullable=True)
    receipt_url: Series[str] = pa.Field(nullable=True)
    billed_elsewhere: Series[str] = pa.Field(nullable=True)  # on an invoice of the project system: not billed again
    source_problem: Series[str] | None = pa.Field(nullable=True)  # the record did not read strictly: quarantined
    notes: Series[str] = pa.Field(nullable=True)
    updated_at: Series[str]
    extracted_at: Series[str]


class CleanExpense(_Base):
    """Every raw expense, typed, mapped to canonical ids, with its markup (and which rule gave it) and exactly
    one disposition; unless billable, the reason."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    expense_id: Series[str] = pa.Field(unique=True)
    spent_date: Series[str] = pa.Field(nullable=True)
    source_spent_date: Series[str] = pa.Field(nullable=True)
    client_id: Series[str] = pa.Field(nullable=True)
    source_client_id: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    category: Series[str] = pa.Field(nullable=True)
    user_id: Series[str] = pa.Field(nullable=True)
    user_name: Series[str] = pa.Field(nullable=True)
    currency: Series[str] = pa.Field(nullable=True)
    invoice_currency: Series[str] = pa.Field(nullable=True)
    total_cost: Series[Rate] = pa.Field(nullable=True)  # type: ignore[valid-type]
    markup_percent: Series[Percent] = pa.Field(nullable=True, ge=0)  # type: ignore[valid-type]
    markup_source: Series[str]
    approved_by: Series[str] = pa.Field(nullable=True)
    approved_at: Series[str] = pa.Field(nullable=True)
    receipt_url: Series[str] = pa.Field(nullable=True)
    disposition: Series[str] = pa.Field(isin=DISPOSITIONS)
    reason: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def billable_rows_are_complete(cls, df):  # noqa: N805
        b = df["disposition"] == "billable"
        cols = ["client_id", "project_id", "currency", "invoice_currency", "total_cost", "markup_percent",
                "spent_date"]
        return ~b | df[cols].notna().all(axis=1)

    @pa.dataframe_check
    def non_billable_rows_have_reason(cls, df):  # noqa: N805
        return (df["disposition"] == "billable") | df["reason"].notna()


class ExpenseBillable(_Base):
    """A billable expense with its markup applied: ``value = total_cost x (100 + markup_percent) / 100``, exact
    at 12 decimals, in the expense's ``currency`` (negative for a refund)."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    expense_id: Series[str] = pa.Field(unique=True)
    invoice_key: Series[str]
    client_id: Series[str]
    client_name: Series[str]
    project_id: Series[str]
    project_name: Series[str] = pa.Field(nullable=True)
    category: Series[str] = pa.Field(nullable=True)
    user_id: Series[str] = pa.Field(nullable=True)
    spent_date: Series[str] = pa.Field(str_matches=ISO_DATE)
    currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    invoice_currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    total_cost: Series[Rate]  # type: ignore[valid-type]
    markup_percent: Series[Percent] = pa.Field(ge=0)  # type: ignore[valid-type]
    markup_source: Series[str]
    value: Series[ExactValue]  # type: ignore[valid-type]
    refund: Series[bool]
    approved_by: Series[str] = pa.Field(nullable=True)
    approved_at: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def refunds_are_negative(cls, df):  # noqa: N805
        return df["refund"] == (df["total_cost"] < 0)


class CleanTimeEntry(_Base):
    """Every raw entry, typed, mapped to canonical ids, rated, and classified into exactly one disposition.

    ``spent_date`` is the entity's local date (from ``started_at`` when the source has it);
    ``client_id`` the canonical client (aliases resolved); ``currency`` the rate's (transaction) currency;
    ``rate`` the effective rate (list rate x billable percent) and ``rate_source`` which rule gave it.
    """

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    entry_id: Series[str] = pa.Field(unique=True)
    spent_date: Series[str] = pa.Field(nullable=True)
    source_spent_date: Series[str] = pa.Field(nullable=True)
    client_id: Series[str] = pa.Field(nullable=True)
    source_client_id: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    task_id: Series[str] = pa.Field(nullable=True)
    task_name: Series[str] = pa.Field(nullable=True)
    user_id: Series[str] = pa.Field(nullable=True)
    user_name: Series[str] = pa.Field(nullable=True)
    currency: Series[str] = pa.Field(nullable=True)
    invoice_currency: Series[str] = pa.Field(nullable=True)
    hours: Series[Hours] = pa.Field(nullable=True)  # type: ignore[valid-type]
    rate: Series[Rate] = pa.Field(nullable=True)  # type: ignore[valid-type]
    list_rate: Series[Rate] = pa.Field(nullable=True)  # type: ignore[valid-type]
    billable_percent: Series[Percent] = pa.Field(nullable=True)  # type: ignore[valid-type]
    rate_source: Series[str] = pa.Field(nullable=True)
    approved_by: Series[str] = pa.Field(nullable=True)
    approved_at: Series[str] = pa.Field(nullable=True)
    disposition: Series[str] = pa.Field(isin=DISPOSITIONS)
    reason: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def billable_rows_are_complete(cls, df):  # noqa: N805
        b = df["disposition"] == "billable"
        cols = ["client_id", "project_id", "task_id", "user_id", "currency", "hours", "rate", "spent_date",
                "rate_source"]
        return ~b | df[cols].notna().all(axis=1)

    @pa.dataframe_check
    def non_billable_rows_have_reason(cls, df):  # noqa: N805
        return (df["disposition"] == "billable") | df["reason"].notna()


class Billable(_Base):
    """A billable source entry with its rate, exact value and billed time (time units: 1 tu = 1/60,000,000 h).

    v2: ``value`` exact at 12 decimals (hours x rate); rules columns (billed/retainer time, rounding, unit).
    """

    class Config(_Base.Config):
        metadata = {"contract_version": 2}

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    entry_id: Series[str] = pa.Field(unique=True)
    invoice_key: Series[str]
    client_id: Series[str]
    client_name: Series[str]
    project_id: Series[str]
    project_name: Series[str]
    task_id: Series[str]
    task_name: Series[str]
    user_id: Series[str]
    spent_date: Series[str] = pa.Field(str_matches=ISO_DATE)
    currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    invoice_currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    hours: Series[Hours] = pa.Field(gt=0)  # type: ignore[valid-type]
    rate: Series[Rate] = pa.Field(ge=0)  # type: ignore[valid-type]
    list_rate: Series[Rate] = pa.Field(ge=0)  # type: ignore[valid-type]
    billable_percent: Series[Percent]  # type: ignore[valid-type]
    rate_source: Series[str]
    approved_by: Series[str] = pa.Field(nullable=True)
    approved_at: Series[str] = pa.Field(nullable=True)
    value: Series[ExactValue] = pa.Field(ge=0)  # type: ignore[valid-type]
    worked_tu: Series[int] = pa.Field(gt=0)
    billed_tu: Series[int] = pa.Field(ge=0)
    retainer_tu: Series[int] = pa.Field(ge=0)
    rounding_scope: Series[str] = pa.Field(isin=["entry", "day", "line"])
    rounding_increment_tu: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    rounding_mode: Series[str] = pa.Field(isin=["nearest", "up", "down"])
    unit: Series[str] = pa.Field(isin=["hours", "days"])
    hours_per_day: Series[HoursPerDay]  # type: ignore[valid-type]


class InvoiceDraftLine(_Base):
    """One line of an invoice we intend the accounting system to hold.

    Satisfies the accounting system's arithmetic: ``quantity`` and ``unit_amount`` have at most 4 decimals
    and ``line_amount_minor = round(quantity x unit_amount)``. Every converted amount carries its rate, rate
    date, source and retrieval time (``fx_*`` source → invoice currency, ``base_*`` invoice → entity base).
    ``rate_source``, ``approved_by`` and ``approved_at`` travel to the posted document.

    v2: 4-dp ``quantity``/``unit_amount``; fee, retainer and discount lines (``kind``) without project/task;
    tax, FX and base-currency columns; exact ``source_value``/``billed_value`` at 12 decimals.
    v3: expense lines (``kind = expense``: 1 x the marked-up amount of a project's expenses of one category,
    ``source_value`` the amounts before markup, ``markup_percent`` the markup; ``source_entry_ids`` name
    ``expense:<id>``).
    """

    class Config(_Base.Config):
        metadata = {"contract_version": 3}

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    invoice_key: Series[str]
    reference: Series[str]
    client_id: Series[str]
    client_name: Series[str]
    currency: Series[str]
    line_no: Series[int] = pa.Field(ge=1)
    kind: Series[str] = pa.Field(isin=["time", "fee", "retainer", "discount", "expense"])
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    task_id: Series[str] = pa.Field(nullable=True)
    task_name: Series[str] = pa.Field(nullable=True)
    description: Series[str]
    item_code: Series[str] = pa.Field(nullable=True)
    tracking_category: Series[str] = pa.Field(nullable=True)
    tracking_option: Series[str] = pa.Field(nullable=True)
    quantity: Series[Quantity4] = pa.Field(ge=0)  # type: ignore[valid-type]
    unit: Series[str] = pa.Field(isin=["hours", "days", "item"])
    unit_amount: Series[Quantity4]  # type: ignore[valid-type]
    line_amount_minor: Series[int]
    account_code: Series[str]
    tax_type: Series[str]
    tax_rate_percent: Series[Percent]  # type: ignore[valid-type]
    tax_amount_minor: Series[int]
    line_amount_types: Series[str] = pa.Field(isin=["Exclusive", "Inclusive"])
    source_currency: Series[str]
    source_rate: Series[Rate]  # type: ignore[valid-type]
    list_rate: Series[Rate]  # type: ignore[valid-type]
    billable_percent: Series[Percent]  # type: ignore[valid-type]
    rate_source: Series[str]
    worked_hours: Series[Hours]  # type: ignore[valid-type]
    billed_hours: Series[Hours]  # type: ignore[valid-type]
    retainer_hours: Series[Hours]  # type: ignore[valid-type]
    source_value: Series[ExactValue]  # type: ignore[valid-type]
    billed_value: Series[ExactValue]  # type: ignore[valid-type]
    rounding_remainder: Series[ExactValue]  # type: ignore[valid-type]
    fx_rate: Series[FxRateValue]  # type: ignore[valid-type]
    fx_rate_date: Series[str] = pa.Field(str_matches=ISO_DATE)
    fx_rate_source: Series[str]
    fx_retrieved_at: Series[str]
    base_currency: Series[str]
    base_rate: Series[FxRateValue]  # type: ignore[valid-type]
    base_rate_date: Series[str] = pa.Field(str_matches=ISO_DATE)
    base_rate_source: Series[str]
    base_retrieved_at: Series[str]
    line_amount_base_minor: Series[int]
    approved_by: Series[str] = pa.Field(nullable=True)
    approved_at: Series[str] = pa.Field(nullable=True)
    entry_count: Series[int] = pa.Field(ge=0)
    source_entry_ids: Series[str]
    markup_percent: Series[Percent] = pa.Field(nullable=True)  # type: ignore[valid-type]

    @pa.dataframe_check
    def xero_arithmetic(cls, df):  # noqa: N805
        """line amount = round(quantity x unit amount) to the currency's minor unit."""
        return pd.Series([xero_line(q, u, c) == m for q, u, c, m in
                          zip(df["quantity"], df["unit_amount"], df["currency"], df["line_amount_minor"], strict=True)],
                         index=df.index)


class PostedInvoice(_Base):
    """Each of our documents of the partition (invoice revisions and credit notes) after posting.

    ``invoice_key`` is the document's business key; ``group_key`` the key of the invoice group
    (revision 1); ``outcome`` what this run did: created, updated (a draft), voided (a draft),
    already_posted, found_in_target (recovered from the accounting system), failed (dead-lettered),
    held (kill switch or an open dead letter), pending (the target kept failing; resolved next run).
    Credit note amounts are positive; ``document_kind`` says which way they count.
    """

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    invoice_key: Series[str] = pa.Field(unique=True)
    group_key: Series[str]
    document_kind: Series[str] = pa.Field(isin=["invoice", "credit_note"])
    reference: Series[str]
    revision: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    client_id: Series[str]
    currency: Series[str]
    outcome: Series[str] = pa.Field(isin=["created", "updated", "voided", "already_posted", "found_in_target",
                                          "failed", "held", "pending", "planned"])
    invoice_id: Series[str] = pa.Field(nullable=True)
    invoice_number: Series[str] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(nullable=True)
    subtotal_minor: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    total_tax_minor: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    total_minor: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    original_reference: Series[str] = pa.Field(nullable=True)
    error: Series[str] = pa.Field(nullable=True)
    dead_letter_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    approved_by: Series[str] = pa.Field(nullable=True)
    triggered_by: Series[str] = pa.Field(nullable=True)
    run_id: Series[str] = pa.Field(nullable=True)


class SyncReconciliation(_Base):
    """Source vs accounting system: per document, and per client, project, tax code, account and currency.

    Counts are documents for the document/client/currency levels and lines for project/tax_code/account;
    totals are net (exclusive of tax) in minor units of ``currency``. ``breach`` marks what fails the check.
    """

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    level: Series[str] = pa.Field(isin=["document", "currency", "client", "project", "tax_code", "account"])
    key: Series[str]
    currency: Series[str]
    source_count: Series[int] = pa.Field(ge=0)
    target_count: Series[int] = pa.Field(ge=0)
    source_minor: Series[int]
    target_minor: Series[int]
    diff_minor: Series[int]
    status: Series[str] = pa.Field(isin=["match", "missing", "extra", "mismatch"])
    breach: Series[bool]
    detail: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def diff_is_target_minus_source(cls, df):  # noqa: N805
        return df["diff_minor"] == df["target_minor"] - df["source_minor"]

FX_RATE_KINDS = ["reference", "contract"]


class FxRateRow(_Base):
    """A stored FX rate: ``1 base_currency = rate quote_currency`` on ``rate_date``, with its provenance.

    Written once per (entity, period) by the ``fx_rates`` asset and never rewritten: conversions of a
    past period read these rows, so re-running reproduces the same amounts byte for byte.
    ``client_id`` is set for a client's contract rate (``kind = contract``), empty for reference rates.
    """

    base_currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    quote_currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    rate_date: Series[str] = pa.Field(str_matches=ISO_DATE)
    rate: Series[FxRateValue] = pa.Field(gt=0)  # type: ignore[valid-type]
    source: Series[str]
    retrieved_at: Series[str]
    kind: Series[str] = pa.Field(isin=FX_RATE_KINDS)
    client_id: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def one_rate_per_key(cls, df):  # noqa: N805
        key = ["base_currency", "quote_currency", "rate_date", "kind", "client_id"]
        return ~df.duplicated(subset=key, keep=False)


# ---- translators for older consumers of the billing contracts (see sync_pipeline.contracts.versions) ----

def _billing_translators() -> None:
    from decimal import Decimal

    from sync_pipeline.contracts import versions

    def _scale(df: pd.DataFrame, col: str, places: int) -> pd.DataFrame:
        q = Decimal(1).scaleb(-places)
        return df.assign(**{col: [None if v is None else Decimal(v).quantize(q) for v in df[col]]})

    @versions.frame_translator("RawTimeEntry", 2, 1)
    def _raw_v2_to_v1(df: pd.DataFrame) -> pd.DataFrame:
        """v1 had no start instant, zone or approval columns."""
        snap = versions.load_snapshot("RawTimeEntry", 1) or {"columns": {}}
        return versions.project_to(df, snap)

    @versions.frame_translator("RawTimeEntry", 1, 2)
    def _raw_v1_to_v2(df: pd.DataFrame) -> pd.DataFrame:
        """An extract written under v1 (before the columns existed): they are unknown, so empty."""
        return df.assign(**{c: pd.Series([None] * len(df), index=df.index, dtype=object)
                            for c in ("started_at", "timezone", "approval_status", "approved_by", "approved_at")
                            if c not in df.columns})

    @versions.frame_translator("Billable", 2, 1)
    def _billable_v2_to_v1(df: pd.DataFrame) -> pd.DataFrame:
        """v1 kept ``value`` at 8 decimals and had no rules columns."""
        snap = versions.load_snapshot("Billable", 1) or {"columns": {}}
        return versions.project_to(_scale(df, "value", 8), snap)

    @versions.frame_translator("InvoiceDraftLine", 3, 2)
    def _draft_v3_to_v2(df: pd.DataFrame) -> pd.DataFrame:
        """v2 knew no expense lines: they read as fee lines (a fixed amount without time); no markup column."""
        snap = versions.load_snapshot("InvoiceDraftLine", 2) or {"columns": {}}
        return versions.project_to(df.assign(kind=df["kind"].replace({"expense": "fee"})), snap)

    @versions.frame_translator("InvoiceDraftLine", 2, 1)
    def _draft_v2_to_v1(df: pd.DataFrame) -> pd.DataFrame:
        """v1 had only time lines with a project and task: fee/discount lines get empty ids and names."""
        snap = versions.load_snapshot("InvoiceDraftLine", 1) or {"columns": {}}
        out = df.assign(**{c: df[c].fillna("") for c in ["project_id", "project_name", "task_id", "task_name"]})
        out = _scale(_scale(_scale(out, "quantity", 6), "unit_amount", 6), "source_value", 8)
        return versions.project_to(out, snap)


_billing_translators()


class MergeProposalRow(_Base):
    """A proposed merge of two source clients (or projects) whose standardized names look alike.

    Never applied by itself: accepting means adding ``duplicate_id`` to the survivor's ``aliases`` in the mapping.
    """

    entity: Series[str]
    kind: Series[str] = pa.Field(isin=["client", "project"])
    keep_id: Series[str]
    keep_name: Series[str]
    duplicate_id: Series[str]
    duplicate_name: Series[str]
    score: Series[float] = pa.Field(ge=0, le=100)
    standardized: Series[str]
    how_to_accept: Series[str]


class BankLine(_Base):
    """A bank statement line of an entity's period (CSV or OFX), amounts signed, in minor units."""

    line_id: Series[str] = pa.Field(unique=True)
    account: Series[str]
    date: Series[str] = pa.Field(str_matches=ISO_DATE)
    amount_minor: Series[int]
    currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    payer_name: Series[str] = pa.Field(nullable=True)
    description: Series[str] = pa.Field(nullable=True)
    bank_reference: Series[str] = pa.Field(nullable=True)
    source: Series[str]


CASH_OUTCOMES = ["auto_settled", "reconciled_payment", "proposed", "exception", "out_of_scope"]


class CashMatch(_Base):
    """One row per (cash-matching decision, invoice allocation); decisions without invoices have one row."""

    line_id: Series[str]
    outcome: Series[str] = pa.Field(isin=CASH_OUTCOMES)
    rule: Series[str]
    confidence: Series[float] = pa.Field(ge=0, le=1)  # a probability, not money
    line_amount_minor: Series[int]
    line_currency: Series[str]
    invoice_id: Series[str] = pa.Field(nullable=True)
    applied_minor: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    invoice_currency: Series[str] = pa.Field(nullable=True)
    line_share_minor: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    payment_id: Series[str] = pa.Field(nullable=True)
    writeoff_minor: Series[int]
    amount_kind: Series[str]
    reason: Series[str] = pa.Field(nullable=True)
