"""Warehouse contracts of what comes back from the accounting system, per entity × billing period.

- ``accounting_invoices``: our invoices and credit notes as the accounting system holds them now
  (status, totals, paid, credited, due), one row per document;
- ``raw_payments``: every settlement of those documents — payments (partial ones too, reversed ones with
  status DELETED), credit notes applied to them, prepayments drawn down against them (retainers) and
  overpayments applied, refunds of credit notes — one row each;
- ``raw_credit_notes``: our credit notes and any other credit note applied to our invoices.

All pulled incrementally with ``If-Modified-Since`` (cursors in the operational store) and merged into the
previous snapshot by document id. Money in integer minor units of the document's currency.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from sync_pipeline.contracts.warehouse import ISO_DATE, PERIOD, _Base

SETTLEMENT_KINDS = ["payment", "credit_note_allocation", "prepayment_allocation", "overpayment_allocation", "refund"]


class AccountingInvoice(_Base):
    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    document_kind: Series[str] = pa.Field(isin=["invoice", "credit_note"])
    document_id: Series[str] = pa.Field(unique=True)
    number: Series[str] = pa.Field(nullable=True)
    reference: Series[str] = pa.Field(nullable=True)
    revision: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    client_id: Series[str] = pa.Field(nullable=True)
    contact_id: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    status: Series[str]
    date: Series[str] = pa.Field(str_matches=ISO_DATE, nullable=True)
    due_date: Series[str] = pa.Field(str_matches=ISO_DATE, nullable=True)
    subtotal_minor: Series[int]
    total_tax_minor: Series[int]
    total_minor: Series[int]
    amount_paid_minor: Series[int]
    amount_credited_minor: Series[int]
    amount_due_minor: Series[int]  # credit notes: the credit not yet used
    fully_paid_on: Series[str] = pa.Field(str_matches=ISO_DATE, nullable=True)
    updated_at: Series[str]
    pulled_at: Series[str]


class RawPayment(_Base):
    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    settlement_id: Series[str] = pa.Field(unique=True)
    kind: Series[str] = pa.Field(isin=SETTLEMENT_KINDS)
    document_kind: Series[str] = pa.Field(isin=["invoice", "credit_note"])
    document_id: Series[str]
    document_number: Series[str] = pa.Field(nullable=True)
    reference: Series[str] = pa.Field(nullable=True)
    source_id: Series[str] = pa.Field(nullable=True)  # the payment, credit note, prepayment or overpayment
    date: Series[str] = pa.Field(str_matches=ISO_DATE, nullable=True)
    amount_minor: Series[int]
    currency: Series[str]
    currency_rate: Series[str] = pa.Field(nullable=True)
    status: Series[str]
    partial: Series[bool]  # settles less than the document's total
    payment_reference: Series[str] = pa.Field(nullable=True)
    bank_account_code: Series[str] = pa.Field(nullable=True)
    updated_at: Series[str] = pa.Field(nullable=True)
    pulled_at: Series[str]


class RawCreditNote(_Base):
    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    credit_note_id: Series[str] = pa.Field(unique=True)
    number: Series[str] = pa.Field(nullable=True)
    reference: Series[str] = pa.Field(nullable=True)
    original_reference: Series[str] = pa.Field(nullable=True)  # ours: the invoice it corrects
    ours: Series[bool]
    contact_id: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    status: Series[str]
    date: Series[str] = pa.Field(str_matches=ISO_DATE, nullable=True)
    subtotal_minor: Series[int]
    total_minor: Series[int]
    allocated_minor: Series[int]
    remaining_credit_minor: Series[int]
    line_count: Series[int]
    updated_at: Series[str]
    pulled_at: Series[str]
