"""Warehouse contracts of posting: the invoice plan and the entry ↔ document links.

Money is integer minor units with a currency column, as everywhere in the warehouse.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from sync_pipeline.contracts.warehouse import PERIOD, _Base

PLAN_ACTIONS = ["create", "unchanged", "update_draft", "void", "credit", "adjust"]
PLAN_OPS = ["create_invoice", "update_invoice", "void_invoice", "create_credit_note", "allocate_credit"]


class InvoicePlanRow(_Base):
    """One planned write (or one group left unchanged, with ``op`` null): the dry run a person reviews.

    ``amount_minor`` is what the document will hold (credit notes positive); ``delta_minor`` how the
    group's net billed subtotal changes (credit notes and voids negative). ``held`` says why a write
    will not happen now (kill switch, open dead letter).
    """

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    group_key: Series[str]
    base_reference: Series[str]
    client_id: Series[str]
    client_name: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    action: Series[str] = pa.Field(isin=PLAN_ACTIONS)
    op: Series[str] = pa.Field(isin=PLAN_OPS, nullable=True)
    doc_key: Series[str] = pa.Field(nullable=True)
    doc_kind: Series[str] = pa.Field(isin=["invoice", "credit_note"], nullable=True)
    reference: Series[str] = pa.Field(nullable=True)
    revision: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    status_after: Series[str] = pa.Field(nullable=True)
    line_count: Series[int] = pa.Field(ge=0)
    amount_minor: Series[int]
    delta_minor: Series[int]
    source_entry_ids: Series[str] = pa.Field(nullable=True)
    original_reference: Series[str] = pa.Field(nullable=True)
    held: Series[str] = pa.Field(nullable=True)
    explanation: Series[str] = pa.Field(nullable=True)


class PostedEntryLink(_Base):
    """A source entry and a document line that bills (``billed``) or credits (``credited``) it.

    An entry is billed exactly once when it has one more ``billed`` link on a live document than
    ``credited`` links; ``live`` is false for links on voided or deleted documents.
    """

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    entry_id: Series[str]
    role: Series[str] = pa.Field(isin=["billed", "credited"])
    document_key: Series[str]
    document_kind: Series[str] = pa.Field(isin=["invoice", "credit_note"])
    reference: Series[str]
    document_number: Series[str] = pa.Field(nullable=True)
    document_id: Series[str] = pa.Field(nullable=True)
    line_no: Series[int] = pa.Field(ge=1)
    line_key: Series[str] = pa.Field(nullable=True)
    description: Series[str]
    quantity: Series[str]
    unit_amount: Series[str]
    line_amount_minor: Series[int]
    currency: Series[str]
    live: Series[bool]
    approved_by: Series[str] = pa.Field(nullable=True)  # who approved the line's entries (billing)
    document_approved_by: Series[str] = pa.Field(nullable=True)  # the document: "lines: …; posting: <who>"
    triggered_by: Series[str] = pa.Field(nullable=True)
    run_id: Series[str] = pa.Field(nullable=True)
    marked_in_source_at: Series[str] = pa.Field(nullable=True)
