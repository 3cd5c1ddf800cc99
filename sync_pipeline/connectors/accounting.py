"""The accounting target behind one small interface.

Services talk to :class:`AccountingTarget` in system-neutral payloads
(``sync_pipeline.contracts.payloads.accounting``) and never see a provider's JSON; each accounting system is
one connector package that implements it: ``connectors.xero`` (:class:`~sync_pipeline.connectors.xero.XeroTarget`)
today. Which target an entity uses is its mapping's ``target:`` field; ``defs.resources.TARGET_FACTORIES`` turns
that name into a target (one line per system).

| need | method |
| --- | --- |
| our customer as a contact | ``ensure_customer``, ``find_contacts``, ``create("contact", ...)`` |
| one batch of new documents, one result per item | :meth:`~AccountingTarget.create` (≤ ``capabilities.max_batch``) |
| many new documents, batched by the target | :meth:`~AccountingTarget.post` |
| change or void drafts | :meth:`~AccountingTarget.update` |
| apply a credit note to an invoice | :meth:`~AccountingTarget.allocate_credit` |
| one document by reference or number | :meth:`~AccountingTarget.find` |
| documents by reference prefix, ids, status, date, changed since | :meth:`~AccountingTarget.documents` |
| is it there, how busy is it | :meth:`~AccountingTarget.probe`, :meth:`~AccountingTarget.usage` |

Errors: transient failures (timeouts, 429, 5xx after the retries) raise ``connectors.http.TransientError``; a
refusal of the whole request raises ``PermanentError``; a refusal of one item of a batch is that item's
:class:`PostResult` with ``ok=False`` and the target's reasons.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.contracts.payloads.accounting import (
    BankTransactionDraftV1,
    CreditNoteDraftV1,
    CreditNoteDraftV2,
    Customer,
    Document,
    DocumentKind,
    InvoiceDraftV1,
    InvoiceDraftV2,
    InvoiceUpdateV1,
    PaymentDraftV1,
)

WritableKind = Literal["invoice", "credit_note", "payment", "bank_transaction", "contact"]
Draft = (InvoiceDraftV1 | InvoiceDraftV2 | CreditNoteDraftV1 | CreditNoteDraftV2 | PaymentDraftV1
         | BankTransactionDraftV1 | Customer)


@dataclass(frozen=True)
class PostResult:
    """One item of a batch write, keyed by the source record it came from (``create``: its position).

    ``contact_unknown``: the target refused the item because the contact it names does not exist (any more):
    the caller should forget its cached contact id and resolve the customer again.
    """

    source_key: str
    ok: bool
    document: Document | None
    errors: list[str] = field(default_factory=list)
    idempotency_key: str = ""
    contact_unknown: bool = False


@dataclass(frozen=True)
class Listing:
    """Documents read back. A document that does not read strictly is never guessed at: it is in ``rejected``
    (by id or position, field, value and problem), with its reference in ``references`` when that reads."""

    documents: list[Document]
    rejected: list[Rejected] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)  # rejected.record → reference


@dataclass(frozen=True)
class Capabilities:
    """What differs between accounting systems, as the services need to know it.

    - ``max_batch``: documents per create/update call;
    - ``max_concurrency``: requests in flight at once per account;
    - ``page_size``: documents per read call (listing);
    - ``partial_batches``: a batch reports each item's own errors (else one bad item fails the batch);
    - ``credit_allocation``: credit notes are applied to invoices by :meth:`AccountingTarget.allocate_credit`
      (else the target applies them when the credit note names the invoice);
    - ``draft_invoices``: invoices can be held as editable drafts (else they are posted final at once);
    - ``line_tax_override``: a line's tax amount we computed is taken as given;
    - ``line_tracking``: lines carry tracking categories (else they are neither sent nor compared).
    """

    max_batch: int
    max_concurrency: int
    page_size: int
    partial_batches: bool = True
    credit_allocation: bool = True
    draft_invoices: bool = True
    line_tax_override: bool = True
    line_tracking: bool = True


@dataclass(frozen=True)
class Usage:
    """Requests made through this target and what the target's limits leave (None: not known)."""

    requests: int
    remaining_minute: int | None = None
    remaining_day: int | None = None
    circuit: str | None = None


@runtime_checkable
class AccountingTarget(Protocol):
    system: str
    """``xero``, ``qbo``: names the target in cursors, the ledger and logs."""
    name: str
    """The system as people know it (``Xero``, ``QuickBooks Online``), for messages."""
    account_id: str
    """The tenant (Xero) / realm (QBO) the target reads and writes: scopes cursors."""
    capabilities: Capabilities

    # -- contacts -------------------------------------------------------------------------------
    def ensure_customer(self, customer: Customer) -> str:
        """The target's id for our customer, created if missing (looked up by ``customer.number``)."""
        ...

    def find_contacts(self, numbers: Sequence[str]) -> dict[str, Document]:
        """The contacts with these customer numbers (number → contact); numbers not found are absent."""
        ...

    # -- writes ---------------------------------------------------------------------------------
    def create(self, kind: WritableKind, drafts: Sequence[Draft], *, idempotency_key: str) -> list[PostResult]:
        """One write call creating up to ``capabilities.max_batch`` documents; one result per draft, in order
        (``source_key`` is the position). The same key and drafts again replay, never duplicate."""
        ...

    def post(self, kind: WritableKind, records: Sequence[tuple[str, Draft]], *, key_prefix: str) -> list[PostResult]:
        """Create many documents in the target's largest safe batches, idempotently (each batch's key derives
        from ``key_prefix`` and its records), one result per record keyed by its source key."""
        ...

    def update(self, kind: Literal["invoice"], changes: Sequence[InvoiceUpdateV1], *,
               idempotency_key: str) -> list[PostResult]:
        """One write call changing up to ``capabilities.max_batch`` existing documents (new lines, new status,
        ``VOIDED``); one result per change, in order."""
        ...

    def allocate_credit(self, credit_note_id: str, *, invoice_id: str, amount: Decimal, on: date,
                        idempotency_key: str) -> None:
        """Apply ``amount`` of a credit note to an invoice (its amount due drops by ``amount``)."""
        ...

    # -- reads ----------------------------------------------------------------------------------
    def find(self, kind: DocumentKind, *, reference: str | None = None, number: str | None = None
             ) -> Document | None:
        """A live (not voided or deleted) document with this reference or number, or None."""
        ...

    def documents(self, kind: DocumentKind, *, reference_prefix: str | None = None, ids: Sequence[str] = (),
                  statuses: Sequence[str] = (), dated: tuple[date, date] | None = None,
                  direction: Literal["receive", "spend"] | None = None,
                  modified_since: datetime | None = None) -> Listing:
        """Every document of ``kind`` matching all the filters given, in as few calls as the target allows.

        ``invoice`` is a sales invoice, ``bill`` a purchase invoice. ``modified_since`` (aware): changed at or after
        it — every document changed in its second, whose stamp may be that second itself — and perhaps some
        changed shortly before (a target may round down); the caller drops what it has read
        (``domain/pull_cursor.py``)."""
        ...

    def modified_since(self, kind: DocumentKind, since: datetime | None) -> Iterator[Document]:
        """Documents changed at or after ``since`` (all when None; perhaps some shortly before), streamed page by
        page."""
        ...

    # -- health ---------------------------------------------------------------------------------
    def probe(self) -> None:
        """The cheapest authenticated call: raises ``connectors.http.HttpError`` when the target cannot be used."""
        ...

    def usage(self) -> Usage:
        ...

    def close(self) -> None: ...


class TargetNotAvailable(RuntimeError):
    """The mapping names an accounting target this installation cannot build."""
