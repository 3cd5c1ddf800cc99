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

CONTRACT_VERSION = 1

ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
PERIOD = r"^\d{4}-\d{2}$"

Hours = pandas_engine.Decimal(12, 6)
Rate = pandas_engine.Decimal(18, 6)
Value = pandas_engine.Decimal(24, 8)

DISPOSITIONS = ["billable", "non_billable", "held", "quarantined"]


class _Base(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


class RawTimeEntry(_Base):
    """A time entry as extracted from the project system, flattened, types loose."""

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
    is_closed: Series[bool]
    notes: Series[str] = pa.Field(nullable=True)
    updated_at: Series[str]
    extracted_at: Series[str]


class CleanTimeEntry(_Base):
    """Every raw entry, typed and classified into exactly one disposition."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    entry_id: Series[str] = pa.Field(unique=True)
    spent_date: Series[str] = pa.Field(nullable=True)
    client_id: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    task_id: Series[str] = pa.Field(nullable=True)
    task_name: Series[str] = pa.Field(nullable=True)
    user_id: Series[str] = pa.Field(nullable=True)
    user_name: Series[str] = pa.Field(nullable=True)
    currency: Series[str] = pa.Field(nullable=True)
    hours: Series[Hours] = pa.Field(nullable=True)  # type: ignore[valid-type]
    rate: Series[Rate] = pa.Field(nullable=True)  # type: ignore[valid-type]
    disposition: Series[str] = pa.Field(isin=DISPOSITIONS)
    reason: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def billable_rows_are_complete(cls, df):  # noqa: N805
        b = df["disposition"] == "billable"
        cols = ["client_id", "project_id", "task_id", "currency", "hours", "rate", "spent_date"]
        return ~b | df[cols].notna().all(axis=1)

    @pa.dataframe_check
    def non_billable_rows_have_reason(cls, df):  # noqa: N805
        return (df["disposition"] == "billable") | df["reason"].notna()


class Billable(_Base):
    """A billable source entry with its rate and unrounded value."""

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
    hours: Series[Hours] = pa.Field(gt=0)  # type: ignore[valid-type]
    rate: Series[Rate] = pa.Field(ge=0)  # type: ignore[valid-type]
    value: Series[Value] = pa.Field(ge=0)  # type: ignore[valid-type]


class InvoiceDraftLine(_Base):
    """One line of an invoice we intend the accounting system to hold."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    invoice_key: Series[str]
    reference: Series[str]
    client_id: Series[str]
    client_name: Series[str]
    currency: Series[str]
    project_id: Series[str]
    project_name: Series[str]
    task_id: Series[str]
    task_name: Series[str]
    line_no: Series[int] = pa.Field(ge=1)
    description: Series[str]
    quantity: Series[Hours] = pa.Field(gt=0)  # type: ignore[valid-type]
    unit_amount: Series[Rate] = pa.Field(ge=0)  # type: ignore[valid-type]
    line_amount_minor: Series[int] = pa.Field(ge=0)
    source_value: Series[Value]  # type: ignore[valid-type]
    account_code: Series[str]
    tax_type: Series[str]
    entry_count: Series[int] = pa.Field(ge=1)
    source_entry_ids: Series[str]


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


FxRateValue = pandas_engine.Decimal(28, 10)
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
