""":class:`~sync_pipeline.connectors.accounting.AccountingTarget` for QuickBooks Online: neutral documents in and
out, QuickBooks JSON only inside this package.

Posting goes in batches of 30 (one ``/batch`` call each, ``requestid`` derived from the batch's source keys and
payloads); each item answers for itself. An item QuickBooks failed on its side (``SystemFault``, throttled) is sent
once more in a batch of its own; a duplicate ``DocNumber`` (custom numbers) whose holder carries our reference is
the document we posted before, found rather than failed. QuickBooks has no draft invoices (they are posted final)
and takes no per-line tax amounts (it computes tax itself): ``capabilities`` says so.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors import redaction
from sync_pipeline.connectors.accounting import Capabilities, Listing, PostResult, Usage
from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.connectors.qbo.client import MAX_BATCH, QUERY_PAGE, BatchItem, QboClient, qbo_datetime, quote
from sync_pipeline.connectors.qbo.documents import Catalog, instant, settlements, to_document
from sync_pipeline.connectors.qbo.faults import DUPLICATE_DOC_NUMBER, Fault, is_transient
from sync_pipeline.connectors.qbo.payloads import (
    GLOBAL_TAX,
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
    tax_lines,
)
from sync_pipeline.connectors.qbo.records import SCHEMAS, read_documents
from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.payloads.accounting import Customer, Document, InvoiceUpdateV1
from sync_pipeline.domain import ids
from sync_pipeline.domain.money import from_minor

log = logging.getLogger("sync_pipeline.connectors.qbo")
redaction.install(log)

#: neutral kind → QuickBooks entity (bank transactions: Deposit for receive, Purchase for spend)
ENTITY = {"invoice": "Invoice", "credit_note": "CreditMemo", "payment": "Payment", "contact": "Customer",
          "bill": "Bill"}
BANK = {"receive": "Deposit", "spend": "Purchase"}
CAPABILITIES = Capabilities(max_batch=MAX_BATCH, max_concurrency=10, page_size=QUERY_PAGE, partial_batches=True,
                            credit_allocation=True, draft_invoices=False, line_tax_override=False,
                            line_tracking=False)
#: faults that say the customer a document names is gone
_CONTACT_FAULTS = {"2500", "610", "6250", "6560"}


class QboTarget:
    system = "qbo"
    name = "QuickBooks Online"
    capabilities = CAPABILITIES

    def __init__(self, client: QboClient, settings: QboSettings) -> None:
        if client.realm_id != settings.realm_id:
            raise ValueError(f"client realm {client.realm_id} is not the settings' realm {settings.realm_id}")
        self.client = client
        self.settings = settings
        self.account_id = settings.realm_id
        self._customers: dict[tuple[str, str], str] = {}
        self._accounts: dict[str, str] = {}
        self._items: dict[str, str] = {}
        self._tax: dict[str, str] = {}
        self._rates: dict[str, list[str]] | None = None
        self._catalog: Catalog | None = None
        #: documents read back that did not read strictly (listed, never guessed at), for ``modified_since``
        self.rejected: list[Rejected] = []

    def close(self) -> None:
        self.client.close()

    # -- reading ----------------------------------------------------------------------------------------------
    def _convert(self, kind: str, typed: list[dict[str, Any]], *, settle: bool = True) -> list[Document]:
        settled = self._settlements(kind, typed) if settle and kind in ("invoice", "credit_note") else None
        catalog = self.catalog() if typed and kind in ("invoice", "credit_note", "payment") else None
        return [to_document(kind, d, home_currency=self.settings.home_currency, settled=settled, catalog=catalog)
                for d in typed]

    def catalog(self) -> Catalog:
        """Items, accounts and tax codes in our terms (read once per target: three queries)."""
        if self._catalog is None:
            s = self.settings
            by_name = {}
            for code, name in sorted(s.accounts.items()):
                by_name.setdefault(name, code)  # two codes on one account read back as the first
            accounts = {str(a["Id"]): by_name.get(str(a.get("Name"))) or str(a.get("AcctNum") or "") or None
                        for a in self.client.query("SELECT * FROM Account")}
            accounts = {k: v for k, v in accounts.items() if v}
            items = {}
            for i in self.client.query("SELECT * FROM Item"):
                account = accounts.get(str((i.get("IncomeAccountRef") or {}).get("value")))
                items[str(i["Id"])] = (self._item_label(i, account), account)
            tax: dict[str, str] = {}
            if s.tax_model == "us":
                tax = {v: k for k, v in sorted(s.tax_codes.items(), reverse=True)}
            elif s.tax_codes:
                ids_by_name = {str(t.get("Name")): str(t["Id"]) for t in self.client.query("SELECT * FROM TaxCode")}
                for our, code in sorted(s.tax_codes.items(), reverse=True):
                    tax[code if code.isdigit() else ids_by_name.get(code, code)] = our
            self._catalog = Catalog(items=items, accounts=accounts, tax=tax)
        return self._catalog

    def _item_label(self, item: dict[str, Any], account: str | None) -> str:
        """An item's code as a line reads back: its SKU or name, except for an account's own item (the mapped one,
        or ``Services (code)`` that :meth:`item_for` creates), which a line gets for naming only its account: that
        line reads back with no item, as it was posted (else every posted line would look changed)."""
        name = str(item.get("Name") or "")
        own = set(self.settings.items.values())
        if str(item["Id"]) in own or name in own or (account is not None and name == f"Services ({account})"):
            return ""
        return str(item.get("Sku") or name)

    def _settlements(self, kind: str, docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
        """What the payments linked to these documents did to them (one query per 100 payments)."""
        pay_ids = sorted({str(lk["TxnId"]) for d in docs for lk in d.get("LinkedTxn") or []
                          if lk.get("TxnType") == "Payment"})
        payments: list[dict[str, Any]] = []
        for start in range(0, len(pay_ids), 100):
            chunk = ", ".join(quote(i) for i in pay_ids[start:start + 100])
            payments += self.client.query(f"SELECT * FROM Payment WHERE Id IN ({chunk})")
        return settlements(payments)

    def _read(self, kind: str, raw: list[Any]) -> tuple[list[Document], list[Rejected], dict[str, str], list[Any]]:
        """Strictly read where QuickBooks' answers must not be guessed at; (documents, rejected, their references,
        deletion tombstones)."""
        entity = ENTITY.get(kind)
        if entity not in SCHEMAS:
            return self._convert(kind, [d for d in raw if isinstance(d, dict)]), [], {}, []
        typed, deleted, rejected = read_documents(entity, raw, self.settings.home_currency)
        refs = {}
        for r in rejected:
            log.warning("QuickBooks %s %s does not read: %s", entity, r.record, r.summary)
            doc = raw[r.position - 1] if r.position else None
            ref = reference_of(doc) if isinstance(doc, dict) else None
            if ref:
                refs[r.record] = ref
        return self._convert(kind, typed), rejected, refs, deleted

    def find(self, kind: str, *, reference: str | None = None, number: str | None = None) -> Document | None:
        if kind == "contact":
            if not number:
                raise ValueError("look a contact up by its number")
            found = self._find_customer(number, None)
            return self._convert("contact", [found])[0] if found else None
        if kind not in ENTITY:
            raise ValueError(f"cannot look up {kind} in QuickBooks")
        entity = ENTITY[kind]
        if number and not reference:
            rows = self.client.query(f"SELECT * FROM {entity} WHERE DocNumber = {quote(number)}")
        elif reference and self.settings.custom_doc_numbers and kind in ("invoice", "credit_note"):
            rows = self.client.query(f"SELECT * FROM {entity} WHERE DocNumber = {quote(doc_number(reference))}")
        elif reference:
            rows = self.client.query(f"SELECT * FROM {entity}{self._since_period(reference)}")
        else:
            raise ValueError(f"look {kind} up by reference or number")
        if reference:
            rows = [r for r in rows if reference_of(r) == reference]
        docs = self._read(kind, rows)[0]
        live = [d for d in docs if d.status not in ("VOIDED", "DELETED")]
        return live[0] if live else None

    @staticmethod
    def _since_period(reference: str) -> str:
        """QuickBooks cannot filter on ``PrivateNote``: documents dated from the reference's period on (all of them
        when the text names no period) are read and those carrying it kept."""
        parsed = ids.parse_reference(reference)
        period = str(parsed["period"]) if parsed else None
        if period is None:
            m = re.search(r"(\d{4}-\d{2})-?$", reference)
            period = m.group(1) if m else None
        return f" WHERE TxnDate >= {quote(period + '-01')}" if period else ""

    def documents(self, kind: str, *, reference_prefix: str | None = None, ids: Sequence[str] = (),
                  statuses: Sequence[str] = (), dated: tuple[date, date] | None = None,
                  direction: str | None = None, modified_since: datetime | None = None) -> Listing:
        if kind == "bank_transaction":
            entities = [BANK[direction]] if direction else list(BANK.values())
        elif kind in ENTITY:
            entities = [ENTITY[kind]]
        else:
            raise ValueError(f"cannot list {kind} from QuickBooks")
        where = []
        if reference_prefix:
            since = self._since_period(reference_prefix)
            where += [since.removeprefix(" WHERE ")] if since else []
        if dated:
            where.append(f"TxnDate >= {quote(dated[0].isoformat())} AND TxnDate <= {quote(dated[1].isoformat())}")
        if modified_since:  # at or after: a change in that same second carries that very stamp
            where.append(f"MetaData.LastUpdatedTime >= {quote(qbo_datetime(modified_since))}")
        raw: list[Any] = []
        for entity in entities:
            if kind == "contact":
                where = [w for w in where if not w.startswith("TxnDate")]
            clause = f" WHERE {' AND '.join(where)}" if where else ""
            if ids:
                for start in range(0, len(ids), 100):
                    chunk = ", ".join(quote(i) for i in ids[start:start + 100])
                    raw += self.client.query(f"SELECT * FROM {entity} WHERE Id IN ({chunk})"
                                             + (f" AND {' AND '.join(where)}" if where else ""))
            else:
                raw += self.client.query(f"SELECT * FROM {entity}{clause}")
        if reference_prefix:
            raw = [d for d in raw if not isinstance(d, dict) or (reference_of(d) or "").startswith(reference_prefix)]
        docs, rejected, refs, _ = self._read(kind, raw)
        if statuses:
            docs = [d for d in docs if d.status in statuses]
        return Listing(docs, rejected, refs)

    def modified_since(self, kind: str, since: datetime | None) -> Iterator[Document]:
        if kind not in ENTITY or kind == "bill":
            raise ValueError(f"cannot pull {kind} back from QuickBooks")
        raw = list(self.client.changed_since(ENTITY[kind], since))
        docs, rejected, _, deleted = self._read(kind, raw)
        self.rejected.extend(rejected)
        yield from docs
        for d in deleted:
            meta = d.get("MetaData") or {}
            yield Document(kind=kind, id=str(d["Id"]), status="DELETED", updated_at=instant(meta.get("LastUpdatedTime")))

    # -- reference data: customers, accounts, items, tax codes ----------------------------------------------------
    def _find_customer(self, number: str, currency: str | None) -> dict[str, Any] | None:
        rows = self.client.query(f"SELECT * FROM Customer WHERE DisplayName LIKE {quote('%[' + number + '%')}")
        tags = {customer_tag(number)} | ({customer_tag(number, currency)} if currency else set())
        mine = [r for r in rows if tag_of(str(r.get("DisplayName", ""))) in tags]
        if currency is not None:
            mine = [r for r in mine if ((r.get("CurrencyRef") or {}).get("value") or self.settings.home_currency)
                    == currency]
        mine.sort(key=lambda r: tag_of(str(r.get("DisplayName", ""))) != customer_tag(number))
        return mine[0] if mine else None

    def ensure_customer(self, customer: Customer) -> str:
        key = (customer.number, customer.currency)
        if key in self._customers:
            return self._customers[key]
        found = self._find_customer(customer.number, customer.currency)
        if found is None:
            found = self.client.create("Customer", self._customer_body(customer),
                                       f"customer-{self.settings.realm_id}-{customer.number}-{customer.currency}")
        self._customers[key] = found["Id"]
        return found["Id"]

    def _customer_body(self, customer: Customer) -> dict[str, Any]:
        # one currency per QuickBooks customer: a second currency gets its own tag
        taken = self._find_customer(customer.number, None) is not None
        tag = customer_tag(customer.number, customer.currency if taken else None)
        return customer_payload(customer.name, tag, customer.currency, self.settings.home_currency)

    def find_contacts(self, numbers: Sequence[str]) -> dict[str, Document]:
        wanted = sorted(set(numbers))
        if len(wanted) <= 10:
            rows = [r for n in wanted if (r := self._find_customer(n, None)) is not None]
        else:
            rows = self.client.query("SELECT * FROM Customer")
        found: dict[str, Document] = {}
        base = {str(r["Id"]) for r in rows if isinstance(r, dict) and tag_of(str(r.get("DisplayName", "")))
                in {customer_tag(n) for n in wanted}}
        for doc in self._read("contact", rows)[0]:
            # the customer tagged [number] first; one tagged [number CUR] (a second currency) only without it
            if doc.number in wanted and (doc.number not in found or doc.id in base):
                found[doc.number] = doc
        return found

    def ledger_account(self, code: str) -> str:
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

    def item_for(self, account_code: str, item_code: str | None = None) -> str:
        """The Service item of a line: the line's item (by Name, else Sku), else the item mapped for the account
        code (id or Name), else ``Services (code)`` found or created once."""
        key = f"item:{item_code}" if item_code else account_code
        if key in self._items:
            return self._items[key]
        if item_code:
            row = self.client.query_one(f"SELECT * FROM Item WHERE Name = {quote(item_code)}") \
                or self.client.query_one(f"SELECT * FROM Item WHERE Sku = {quote(item_code)}")
            if row is None:
                raise PayloadError(f"QuickBooks company {self.settings.realm_id} has no item {item_code!r} "
                                   "(by name or SKU)")
            self._items[key] = row["Id"]
            return row["Id"]
        mapped = self.settings.items.get(account_code)
        if mapped and mapped.isdigit():
            self._items[key] = mapped
            return mapped
        name = mapped or f"Services ({account_code})"
        row = self.client.query_one(f"SELECT * FROM Item WHERE Name = {quote(name)}")
        if row is None:
            self._catalog = None  # a new item: read the catalog again when lines are read back
            row = self.client.create("Item", {"Name": name, "Type": "Service",
                                              "IncomeAccountRef": {"value": self.ledger_account(account_code)}},
                                     f"item-{self.settings.realm_id}-{account_code}")
        self._items[key] = row["Id"]
        return row["Id"]

    # -- payloads ---------------------------------------------------------------------------------------------
    def _taxes(self, draft: Any) -> list[Decimal | None]:
        """Each line's tax as our billing computed it (None where a line carries none)."""
        return [None if getattr(li, "tax_amount_minor", None) is None else from_minor(li.tax_amount_minor,
                                                                                        draft.currency)
                for li in draft.lines]

    def _lines(self, draft: Any) -> list[dict[str, Any]]:
        def amount(li: Any) -> Decimal:
            if getattr(li, "line_amount_minor", None) is not None:
                return from_minor(li.line_amount_minor, draft.currency)
            return li.line_amount

        taxes = dict(zip(map(id, draft.lines), self._taxes(draft), strict=True))
        inclusive = self.settings.tax_model != "us" and getattr(draft, "line_amount_types", None) == "Inclusive"
        return sales_lines(draft.lines, lambda li: self.item_for(li.account_code, getattr(li, "item_code", None)),
                           self.settings, amount, self.tax_id, tax_of=(lambda li: taxes[id(li)]) if inclusive
                           else None)

    def _our_tax(self, draft: Any, lines: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Non-US: ``TxnTaxDetail`` carrying our tax per rate, so QuickBooks holds the tax we billed."""
        if self.settings.tax_model == "us" or getattr(draft, "line_amount_types", None) == "NoTax":
            return None
        taxes = tax_lines(lines, self._taxes(draft), self._tax_rates())
        return {"TaxLine": taxes} if taxes else None

    def _tax_rates(self) -> dict[str, list[str]]:
        """Each TaxCode's sales tax rates (one query, once)."""
        if self._rates is None:
            self._rates = {str(c["Id"]): [str(d["TaxRateRef"]["value"]) for d in
                                          (c.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
                                          if (d.get("TaxRateRef") or {}).get("value") is not None]
                           for c in self.client.query("SELECT * FROM TaxCode")}
        return self._rates

    def _sales(self, kind: str, draft: Any) -> dict[str, Any]:
        customer = draft.contact_id or self.ensure_customer(draft.customer)
        lines = self._lines(draft)
        body = sales_document(draft, customer_id=customer, lines=lines, settings=self.settings,
                              due=kind == "invoice", tax_id=self.tax_id)
        if (ours := self._our_tax(draft, lines)) is not None:
            body["TxnTaxDetail"] = ours
        return body

    def _payload(self, kind: str, draft: Any, invoices: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        if kind in ("invoice", "credit_note"):
            return ENTITY[kind], self._sales(kind, draft)
        if kind == "contact":
            return "Customer", self._customer_body(draft)
        if kind == "payment":
            inv = invoices.get(draft.invoice_id or "") or invoices.get(f"#{draft.invoice_number}")
            if inv is None:
                what = draft.invoice_id or draft.invoice_number or f"credit memo {draft.credit_note_id}"
                raise PayloadError(f"no live QuickBooks invoice {what} to apply the payment to (a refund of a credit "
                                   "memo is not supported)")
            return "Payment", payment_payload(draft, invoice=inv, deposit_account_id=self.ledger_account(
                draft.account_code), settings=self.settings)
        if kind == "bank_transaction":
            accounts = {li.account_code: self.ledger_account(li.account_code) for li in draft.lines}
            return bank_payload(draft, bank_account_id=self.ledger_account(draft.bank_account_code),
                                account_ids=accounts, settings=self.settings)
        raise ValueError(f"cannot post {kind} to QuickBooks")

    def _invoices_for(self, kind: str, drafts: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """The invoices payments apply to, read in few queries (by id, and ``#number`` by DocNumber)."""
        if kind != "payment":
            return {}
        wanted = sorted({d.invoice_id for d in drafts if d.invoice_id})
        numbers = sorted({d.invoice_number for d in drafts if not d.invoice_id and d.invoice_number})
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):
            chunk = ", ".join(quote(i) for i in wanted[start:start + 100])
            out |= {r["Id"]: r for r in self.client.query(f"SELECT * FROM Invoice WHERE Id IN ({chunk})")}
        for start in range(0, len(numbers), 100):
            chunk = ", ".join(quote(n) for n in numbers[start:start + 100])
            out |= {f"#{r.get('DocNumber')}": r
                    for r in self.client.query(f"SELECT * FROM Invoice WHERE DocNumber IN ({chunk})")}
        return out

    def _prepare(self, kind: str, records: Sequence[tuple[str, Any]], results: dict[str, PostResult]
                 ) -> list[tuple[str, str, dict[str, Any]]]:
        """Each record as (key, entity, body); a record that cannot become QuickBooks JSON fails alone, unsent."""
        invoices = self._invoices_for(kind, [d for _, d in records])
        sendable = []
        for key, draft in records:
            try:
                entity, body = self._payload(kind, draft, invoices)
            except (PayloadError, ValueError) as e:
                results[key] = PostResult(key, False, None, [str(e)])
                continue
            sendable.append((key, entity, body))
        return sendable

    # -- writes -----------------------------------------------------------------------------------------------
    def create(self, kind: str, drafts: Sequence[Any], *, idempotency_key: str) -> list[PostResult]:
        if len(drafts) > MAX_BATCH:
            raise ValueError(f"QuickBooks creates at most {MAX_BATCH} documents per call, got {len(drafts)}")
        records = [(str(n), d) for n, d in enumerate(drafts)]
        results: dict[str, PostResult] = {}
        self._send(kind, self._prepare(kind, records, results), results, idem=idempotency_key, again=True)
        return [results[k] for k, _ in records]

    def post(self, kind: str, records: Sequence[tuple[str, Any]], *, key_prefix: str) -> list[PostResult]:
        results: dict[str, PostResult] = {}
        sendable = self._prepare(kind, records, results)
        for start in range(0, len(sendable), MAX_BATCH):
            batch = sendable[start:start + MAX_BATCH]
            digest = hashlib.sha256()
            for key, _, body in batch:
                digest.update(key.encode())
                digest.update(dumps(body))
            self._send(kind, batch, results, idem=f"{key_prefix}-{digest.hexdigest()[:40]}", again=True)
        return [results[key] for key, _ in records]

    def _send(self, kind: str, batch: list[tuple[str, str, dict[str, Any]]], results: dict[str, PostResult], *,
              idem: str, again: bool) -> None:
        if not batch:
            return
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
                results[key] = self._faulted(kind, key, entity, body, answer, idem)
            else:
                results[key] = PostResult(key, True, self._created(kind, answer), [], idem)
        if retry:  # a new batch (its own requestid): the first answer said these were not done
            self._send(kind, retry, results, idem=f"{idem}-again", again=False)

    def _faulted(self, kind: str, key: str, entity: str, body: dict[str, Any], fault: Fault, idem: str) -> PostResult:
        if DUPLICATE_DOC_NUMBER in fault.codes and body.get("DocNumber"):
            # our DocNumbers derive from our references: the holder may be the document we posted before
            for row in self.client.query(f"SELECT * FROM {entity} WHERE DocNumber = {quote(body['DocNumber'])}"):
                if reference_of(row) and reference_of(row) == reference_of(body):
                    return PostResult(key, True, self._created(kind, row), [], idem)
            return PostResult(key, False, None, [f"{fault}: DocNumber {body['DocNumber']} belongs to another "
                                                 f"{entity}; renumber that one or turn custom numbers off"], idem)
        gone = bool(fault.codes & _CONTACT_FAULTS) and "customer" in str(fault).lower()
        return PostResult(key, False, None, [str(fault)], idem, contact_unknown=gone)

    def _created(self, kind: str, doc: dict[str, Any]) -> Document:
        docs = self._read(kind, [doc])[0] if kind != "bank_transaction" else self._convert(kind, [doc])
        if docs:
            return docs[0]
        return Document(kind=kind, id=str(doc.get("Id")), reference=reference_of(doc))

    def update(self, kind: str, changes: Sequence[InvoiceUpdateV1], *, idempotency_key: str) -> list[PostResult]:
        """Void or delete an invoice, or replace its lines (QuickBooks has no drafts: a posted invoice is edited)."""
        if kind != "invoice":
            raise ValueError(f"QuickBooks updates invoices here, not {kind}")
        out = []
        for n, change in enumerate(changes):
            key = f"{idempotency_key}-{n}"
            try:
                if change.status in ("VOIDED", "DELETED"):
                    self.client.operation("Invoice", change.id, "void" if change.status == "VOIDED" else "delete",
                                          key)
                    doc = self.client.read("Invoice", change.id) if change.status == "VOIDED" else None
                elif change.lines is not None:
                    edit: dict[str, Any] = {"Line": self._lines(change)}
                    if self.settings.tax_model == "us" and self.settings.us_sales_tax_code:
                        # sent without TotalTax, so QuickBooks computes the tax of the new lines
                        edit["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": self.tax_id(self.settings.us_sales_tax_code)}}
                    elif self.settings.tax_model != "us":
                        if change.line_amount_types:
                            edit["GlobalTaxCalculation"] = GLOBAL_TAX[change.line_amount_types]
                        if (ours := self._our_tax(change, edit["Line"])) is not None:
                            edit["TxnTaxDetail"] = ours
                    doc = self.client.update("Invoice", change.id, edit, key)
                else:
                    doc = self.client.read("Invoice", change.id)
            except (PermanentError, PayloadError) as e:
                out.append(PostResult(str(n), False, None, [str(e)], key))
                continue
            document = self._created("invoice", doc) if doc else Document(kind="invoice", id=change.id,
                                                                          status="DELETED")
            out.append(PostResult(str(n), True, document, [], key))
        return out

    def allocate_credit(self, credit_note_id: str, *, invoice_id: str, amount: Decimal, on: date,
                        idempotency_key: str) -> None:
        """QuickBooks applies credit with a Payment of zero: one line takes ``amount`` off the invoice, one uses
        as much of the credit memo."""
        inv = self.client.read("Invoice", invoice_id)
        body: dict[str, Any] = {
            "CustomerRef": {"value": inv["CustomerRef"]["value"]}, "TotalAmt": Decimal(0), "TxnDate": on.isoformat(),
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]},
                     {"Amount": amount, "LinkedTxn": [{"TxnId": credit_note_id, "TxnType": "CreditMemo"}]}]}
        if inv.get("CurrencyRef"):
            body["CurrencyRef"] = {"value": inv["CurrencyRef"]["value"]}
        self.client.create("Payment", body, idempotency_key)

    # -- health -----------------------------------------------------------------------------------------------
    def probe(self) -> None:
        self.client.call("GET", f"companyinfo/{self.settings.realm_id}")

    def usage(self) -> Usage:
        http = self.client.http
        remaining = http.limiter.remaining()
        return Usage(http.request_count, remaining[0] if remaining else None, None, http.breaker.state)
