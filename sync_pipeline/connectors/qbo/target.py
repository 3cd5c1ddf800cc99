""":class:`~sync_pipeline.connectors.accounting.AccountingTarget` for QuickBooks Online: neutral documents in and
out, QuickBooks JSON only inside this package.

Posting goes in batches of 30 (one ``/batch`` call each, ``requestid`` derived from the batch's source keys and
payloads); each item answers for itself. An item QuickBooks failed on its side (``SystemFault``, throttled) is sent
once more in a batch of its own kind; a duplicate ``DocNumber`` (custom numbers) whose holder carries our reference is
the document we posted before, found rather than failed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors import redaction
from sync_pipeline.connectors.accounting import PostResult
from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.connectors.qbo.client import BatchItem, QboClient, quote
from sync_pipeline.connectors.qbo.faults import DUPLICATE_DOC_NUMBER, Fault, is_transient
from sync_pipeline.connectors.qbo.payloads import (
    PayloadError,
    QboSettings,
    bank_payload,
    customer_payload,
    customer_tag,
    doc_number,
    payment_payload,
    reference_of,
    sales_document,
    sales_lines,
    tag_of,
)
from sync_pipeline.connectors.qbo.records import currency_of, read_documents
from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.payloads import translate
from sync_pipeline.contracts.payloads.accounting import Customer, DocumentV1, InvoiceDraftV1
from sync_pipeline.domain import ids

log = logging.getLogger("sync_pipeline.connectors.qbo")
redaction.install(log)

ENTITY = {"invoice": "Invoice", "credit_note": "CreditMemo", "payment": "Payment", "contact": "Customer"}
BANK_ENTITIES = ("Deposit", "Purchase")


def _instant(value: str | None) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat()


def to_document(kind: str, doc: dict[str, Any], home_currency: str) -> DocumentV1:
    """A strictly read QuickBooks document in neutral terms (``accounting.document`` v1)."""
    updated = _instant((doc.get("MetaData") or {}).get("LastUpdatedTime"))
    if kind == "contact":
        return DocumentV1(kind="contact", id=doc["Id"], number=(tag_of(doc["DisplayName"]) or "").strip("[]") or None,
                          status="ACTIVE" if doc.get("Active", True) else "ARCHIVED",
                          currency=currency_of(doc, home_currency), updated_at=updated)
    total: Decimal = doc["TotalAmt"]
    due: Decimal | None
    if kind == "invoice":
        due = doc["Balance"]
    elif kind == "credit_note":
        due = doc.get("RemainingCredit", doc.get("Balance"))
    else:
        due = doc.get("UnappliedAmt")
    note = doc.get("PrivateNote") or ""
    if note.startswith("Voided"):
        status = "VOIDED"
    elif kind in ("invoice", "credit_note") and due == 0 and total > 0:
        status = "PAID"
    else:
        status = "AUTHORISED"
    return DocumentV1(kind=kind, id=doc["Id"], number=doc.get("DocNumber") or doc.get("PaymentRefNum"),
                      reference=reference_of(doc), status=status, currency=currency_of(doc, home_currency),
                      total=total, amount_due=due, updated_at=updated)


class QboTarget:
    system = "qbo"

    def __init__(self, client: QboClient, settings: QboSettings) -> None:
        if client.realm_id != settings.realm_id:
            raise ValueError(f"client realm {client.realm_id} is not the settings' realm {settings.realm_id}")
        self.client = client
        self.settings = settings
        self._customers: dict[tuple[str, str], str] = {}
        self._accounts: dict[str, str] = {}
        self._items: dict[str, str] = {}
        self._tax: dict[str, str] = {}
        #: documents read back that did not read strictly (listed, never guessed at)
        self.rejected: list[Rejected] = []

    def close(self) -> None:
        self.client.close()

    # -- reading ----------------------------------------------------------------------------------------------
    def _documents(self, kind: str, docs: list[Any]) -> list[DocumentV1]:
        typed, deleted, rejected = read_documents(ENTITY[kind], docs, self.settings.home_currency)
        for r in rejected:
            log.warning("QuickBooks %s %s does not read: %s", ENTITY[kind], r.record, r.summary)
        self.rejected.extend(rejected)
        out = [to_document(kind, d, self.settings.home_currency) for d in typed]
        out += [DocumentV1(kind=kind, id=d["Id"], status="DELETED",
                           updated_at=_instant((d.get("MetaData") or {}).get("LastUpdatedTime")))
                for d in deleted]
        return out

    def find(self, kind: str, *, reference: str | None = None, number: str | None = None) -> DocumentV1 | None:
        if kind == "contact":
            if not number:
                raise ValueError("look a contact up by its number")
            found = self._find_customer(number, None)
            return self._documents("contact", [found])[0] if found else None
        if kind not in ENTITY:
            raise ValueError(f"cannot look up {kind} in QuickBooks")
        entity = ENTITY[kind]
        if number and not reference:
            rows = self.client.query(f"SELECT * FROM {entity} WHERE DocNumber = {quote(number)}")
        elif reference and self.settings.custom_doc_numbers and kind != "payment":
            rows = self.client.query(f"SELECT * FROM {entity} WHERE DocNumber = {quote(doc_number(reference))}")
        elif reference:
            rows = self._scan_for_reference(entity, reference)
        else:
            raise ValueError(f"look {kind} up by reference or number")
        if reference:
            rows = [r for r in rows if reference_of(r) == reference]
        live = [d for d in self._documents(kind, rows) if d.status not in ("VOIDED", "DELETED")]
        return live[0] if live else None

    def _scan_for_reference(self, entity: str, reference: str) -> list[dict[str, Any]]:
        """QuickBooks cannot filter on ``PrivateNote``: read the documents dated from the reference's period on
        (all of them when the reference is not one of ours) and keep those carrying it."""
        parsed = ids.parse_reference(reference)
        where = f" WHERE TxnDate >= {quote(str(parsed['period']) + '-01')}" if parsed else ""
        return self.client.query(f"SELECT * FROM {entity}{where}")

    def modified_since(self, kind: str, since: datetime | None) -> Iterator[DocumentV1]:
        if kind not in ENTITY:
            raise ValueError(f"cannot pull {kind} back from QuickBooks")
        docs = list(self.client.changed_since(ENTITY[kind], since))
        yield from self._documents(kind, docs)

    # -- reference data: customers, accounts, items ---------------------------------------------------------------
    def _find_customer(self, number: str, currency: str | None) -> dict[str, Any] | None:
        rows = self.client.query(f"SELECT * FROM Customer WHERE DisplayName LIKE {quote('%[' + number + '%')}")
        tags = {customer_tag(number)} | ({customer_tag(number, currency)} if currency else set())
        mine = [r for r in rows if tag_of(str(r.get("DisplayName", ""))) in tags]
        if currency is not None:
            mine = [r for r in mine if ((r.get("CurrencyRef") or {}).get("value") or self.settings.home_currency)
                    == currency]
        return mine[0] if mine else None

    def ensure_customer(self, customer: Customer) -> str:
        key = (customer.number, customer.currency)
        if key in self._customers:
            return self._customers[key]
        found = self._find_customer(customer.number, customer.currency)
        if found is None:
            # one currency per QuickBooks customer: a second currency gets its own tag
            taken = self._find_customer(customer.number, None) is not None
            tag = customer_tag(customer.number, customer.currency if taken else None)
            body = customer_payload(customer.name, tag, customer.currency, self.settings.home_currency)
            found = self.client.create("Customer", body, f"customer-{self.settings.realm_id}-{tag}")
        self._customers[key] = found["Id"]
        return found["Id"]

    def account_id(self, code: str) -> str:
        """The id of the account for our account code: the one named in ``accounts``, else the one numbered so."""
        if code not in self._accounts:
            name = self.settings.accounts.get(code)
            row = self.client.query_one(f"SELECT * FROM Account WHERE Name = {quote(name)}" if name else
                                        f"SELECT * FROM Account WHERE AcctNum = {quote(code)}")
            if row is None:
                what = f"named {name!r}" if name else f"numbered {code!r}"
                raise PayloadError(f"QuickBooks company {self.settings.realm_id} has no account {what} (our account "
                                   f"code {code}); name it in the entity's qbo.accounts or number it in QuickBooks")
            self._accounts[code] = row["Id"]
        return self._accounts[code]

    def tax_id(self, code: str) -> str:
        """A configured TaxCode: its id as given, or looked up by Name once."""
        if code.isdigit():
            return code
        if code not in self._tax:
            row = self.client.query_one(f"SELECT * FROM TaxCode WHERE Name = {quote(code)}")
            if row is None:
                raise PayloadError(f"QuickBooks company {self.settings.realm_id} has no tax code named {code!r}; "
                                   "fix the entity's qbo.tax_codes")
            self._tax[code] = row["Id"]
        return self._tax[code]

    def item_for(self, account_code: str) -> str:
        """The Service item selling into ``account_code`` (mapped by id or Name, found, or created once)."""
        if account_code not in self._items:
            mapped = self.settings.items.get(account_code)
            if mapped and mapped.isdigit():
                self._items[account_code] = mapped
                return mapped
            name = mapped or f"Services ({account_code})"
            row = self.client.query_one(f"SELECT * FROM Item WHERE Name = {quote(name)}")
            if row is None:
                row = self.client.create("Item", {"Name": name, "Type": "Service",
                                                  "IncomeAccountRef": {"value": self.account_id(account_code)}},
                                         f"item-{self.settings.realm_id}-{account_code}")
            self._items[account_code] = row["Id"]
        return self._items[account_code]

    # -- writing ----------------------------------------------------------------------------------------------
    def _payload(self, kind: str, draft: Any, invoices: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        s = self.settings
        if kind in ("invoice", "credit_note"):
            d = draft if kind == "credit_note" or isinstance(draft, InvoiceDraftV1) \
                else translate("accounting.invoice", draft, target=1)
            customer = d.contact_id or self.ensure_customer(d.customer)
            lines = sales_lines(d.lines, self.item_for, s, lambda li: li.line_amount, self.tax_id)
            return ENTITY[kind], sales_document(d, customer_id=customer, lines=lines, settings=s,
                                                due=kind == "invoice", tax_id=self.tax_id)
        if kind == "payment":
            inv = invoices.get(draft.invoice_id or "") or invoices.get(f"#{draft.invoice_number}")
            if inv is None:
                what = draft.invoice_id or draft.invoice_number or f"credit memo {draft.credit_note_id}"
                raise PayloadError(f"no live QuickBooks invoice {what} to apply the payment to (a refund of a credit "
                                   "memo is not supported)")
            return "Payment", payment_payload(draft, invoice=inv, deposit_account_id=self.account_id(draft.account_code),
                                              settings=s)
        if kind == "bank_transaction":
            accounts = {li.account_code: self.account_id(li.account_code) for li in draft.lines}
            return bank_payload(draft, bank_account_id=self.account_id(draft.bank_account_code), account_ids=accounts,
                                settings=s)
        raise ValueError(f"cannot post {kind} to QuickBooks")

    def _invoices_for(self, records: Sequence[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
        """The invoices payments apply to, read in few queries (by id, and ``#number`` by DocNumber)."""
        wanted = sorted({d.invoice_id for _, d in records if d.invoice_id})
        numbers = sorted({d.invoice_number for _, d in records if not d.invoice_id and d.invoice_number})
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):
            chunk = ", ".join(quote(i) for i in wanted[start:start + 100])
            out |= {r["Id"]: r for r in self.client.query(f"SELECT * FROM Invoice WHERE Id IN ({chunk})")}
        for start in range(0, len(numbers), 100):
            chunk = ", ".join(quote(n) for n in numbers[start:start + 100])
            out |= {f"#{r.get('DocNumber')}": r
                    for r in self.client.query(f"SELECT * FROM Invoice WHERE DocNumber IN ({chunk})")}
        return out

    def post(self, kind: str, records: Sequence[tuple[str, Any]], *, key_prefix: str) -> list[PostResult]:
        invoices = self._invoices_for(records) if kind == "payment" else {}
        results: dict[str, PostResult] = {}
        sendable: list[tuple[str, str, dict[str, Any]]] = []
        for key, draft in records:  # a record that cannot become QuickBooks JSON fails alone, before anything is sent
            try:
                entity, body = self._payload(kind, draft, invoices)
            except (PayloadError, ValueError) as e:
                results[key] = PostResult(key, False, None, [str(e)])
                continue
            sendable.append((key, entity, body))
        for start in range(0, len(sendable), 30):
            self._send(kind, sendable[start:start + 30], key_prefix, results, again=True)
        return [results[key] for key, _ in records]

    def _send(self, kind: str, batch: list[tuple[str, str, dict[str, Any]]], key_prefix: str,
              results: dict[str, PostResult], *, again: bool) -> None:
        digest = hashlib.sha256()
        for key, _, body in batch:
            digest.update(key.encode())
            digest.update(dumps(body))
        idem = f"{key_prefix}-{digest.hexdigest()[:40]}"
        try:
            answers = self.client.batch([BatchItem(entity, body) for _, entity, body in batch], idem)
        except PermanentError as e:
            for key, _, _ in batch:
                results[key] = PostResult(key, False, None, [str(e)], idem)
            return
        retry = []
        for (key, entity, body), answer in zip(batch, answers, strict=True):
            if isinstance(answer, Fault):
                if again and is_transient(answer):
                    retry.append((key, entity, body))
                    continue
                results[key] = self._faulted(kind, key, body, answer, idem)
            else:
                results[key] = PostResult(key, True, self._created(kind, answer), [], idem)
        if retry:  # a new batch (its own requestid): the first answer said these were not done
            self._send(kind, retry, key_prefix + "-again", results, again=False)

    def _faulted(self, kind: str, key: str, body: dict[str, Any], fault: Fault, idem: str) -> PostResult:
        if DUPLICATE_DOC_NUMBER in fault.codes and body.get("DocNumber"):
            # our DocNumbers derive from our references: the holder may be the document we posted before
            entity = ENTITY[kind]
            for row in self.client.query(f"SELECT * FROM {entity} WHERE DocNumber = {quote(body['DocNumber'])}"):
                if reference_of(row) and reference_of(row) == reference_of(body):
                    return PostResult(key, True, self._created(kind, row), [], idem)
            return PostResult(key, False, None, [f"{fault}: DocNumber {body['DocNumber']} belongs to another "
                                                 f"{entity}; renumber that one or turn custom numbers off"], idem)
        return PostResult(key, False, None, [str(fault)], idem)

    def _created(self, kind: str, doc: dict[str, Any]) -> DocumentV1:
        if kind not in ENTITY:  # bank transactions: no neutral reader beyond the id
            return DocumentV1(kind=kind, id=str(doc.get("Id")), reference=reference_of(doc),
                              currency=(doc.get("CurrencyRef") or {}).get("value") or self.settings.home_currency,
                              total=doc.get("TotalAmt"))
        docs = self._documents(kind, [doc])
        if docs:
            return docs[0]
        return DocumentV1(kind=kind, id=str(doc.get("Id")), reference=reference_of(doc))

