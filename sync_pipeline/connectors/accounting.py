"""The accounting target behind one small interface.

Services talk to :class:`AccountingTarget` in system-neutral payloads
(``sync_pipeline.contracts.payloads.accounting``); each accounting system is one module that
implements it: ``connectors.xero.XeroTarget`` today, a QuickBooks Online module next (its
``Invoice``/``CreditMemo``/``Payment``/``Deposit`` objects map onto the same five methods).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from sync_pipeline.contracts.payloads.accounting import (
    BankTransactionDraftV1,
    CreditNoteDraftV1,
    Customer,
    DocumentV1,
    InvoiceDraftV1,
    InvoiceDraftV2,
    PaymentDraftV1,
)

DocumentKind = Literal["invoice", "credit_note", "payment", "bank_transaction", "contact"]


@dataclass(frozen=True)
class PostResult:
    """One item of a batch write, keyed by the source record it came from."""

    source_key: str
    ok: bool
    document: DocumentV1 | None
    errors: list[str] = field(default_factory=list)
    idempotency_key: str = ""


@runtime_checkable
class AccountingTarget(Protocol):
    system: str

    def ensure_customer(self, customer: Customer) -> str:
        """The target's id for our customer, created if missing (looked up by ``customer.number``)."""
        ...

    def find(self, kind: DocumentKind, *, reference: str | None = None, number: str | None = None
             ) -> DocumentV1 | None:
        """A live document with this reference or number, or None."""
        ...

    def post(self, kind: Literal["invoice", "credit_note", "payment", "bank_transaction"],
             records: Sequence[tuple[str, InvoiceDraftV1 | InvoiceDraftV2 | CreditNoteDraftV1 | PaymentDraftV1
                                     | BankTransactionDraftV1]],
             *, key_prefix: str) -> list[PostResult]:
        """Create documents in the target's largest safe batches, idempotently, one result per record."""
        ...

    def modified_since(self, kind: DocumentKind, since: datetime | None) -> Iterator[DocumentV1]:
        """Documents changed after ``since`` (all when None), streamed."""
        ...

    def close(self) -> None: ...
