"""The current state of a partition: our documents in the accounting system (two bulk reads through the
``AccountingTarget``), joined with the operational store (which document key, which source entries)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors.accounting import AccountingTarget, Listing
from sync_pipeline.contracts.codec import loads
from sync_pipeline.contracts.payloads.accounting import Document, DocumentLineV1
from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import Doc, Group, Line
from sync_pipeline.domain.money import to_minor
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.posted_lines import PostedLines

DEAD = ("VOIDED", "DELETED")


class PostingBlocked(RuntimeError):
    """The plan may not be posted as it stands (the guard's limits, or duplicates found in the target)."""


@dataclass
class PartitionState:
    docs: dict[str, list[Doc]]  # base reference → our documents
    target_docs: dict[str, Document]  # document key → the accounting system's document
    ledger: dict[str, dict[str, Any]]  # document key → ledger row
    anomalies: list[str] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)


def target_line(li: DocumentLineV1, currency: str) -> Line:
    """A line as the accounting system holds it (content only: entries come from the store or the drafts)."""
    tracking = tuple(sorted((t.category, t.option) for t in li.tracking if t.category and t.option))
    return Line(li.description or "", li.quantity or Decimal(0), li.unit_amount or Decimal(0),
                to_minor(li.line_amount or Decimal(0), currency), li.account_code or "", li.tax_type or "",
                item_code=li.item_code or None, tracking=tracking,
                tax_amount_minor=to_minor(li.tax_amount, currency) if li.tax_amount is not None else None)


def _manifest(row: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The lines (with their entries) a ledger row says were last sent: what a crash left unrecorded."""
    if not row or not row.get("payload"):
        return []
    try:
        doc = loads(row["payload"])
    except ValueError:
        return []
    return doc.get("lines") or [] if isinstance(doc, dict) else []


def _entries(v: Any) -> tuple[str, ...]:
    return tuple(str(e) for e in (v.split(",") if isinstance(v, str) else v or []) if str(e))


def lines_from_target(doc: Document, currency: str, known: list[dict[str, Any]], wanted: dict[str, Line]) -> list[Line]:
    """The target's lines, each with its source entries from (in order) the posted-lines store, the manifest
    of the last write, or the lines it should hold (``wanted``)."""
    stored: dict[str, dict[str, Any]] = {}
    for r in known:
        stored.setdefault(r["fingerprint"], r)
    out = []
    for li in doc.lines:
        line = target_line(li, currency)
        fp = line.fingerprint
        if fp in stored:
            s = stored[fp]
            line = replace(line, source_entry_ids=_entries(s["source_entry_ids"]), line_key=s.get("line_key") or "",
                           approved_by=s.get("approved_by"), approved_at=s.get("approved_at"))
        elif fp in wanted:
            w = wanted[fp]
            line = replace(line, source_entry_ids=w.source_entry_ids, line_key=w.line_key, approved_by=w.approved_by,
                           approved_at=w.approved_at)
        out.append(line)
    return out


def require_readable(entity: str, period: str, listings: dict[str, Listing], system: str = "the target") -> None:
    """Our documents in the accounting system, each read strictly (``AccountingTarget.documents``), or
    :class:`PostingBlocked` naming every one that does not read. Never skipped: a document of ours left out would
    look "not posted" and be billed a second time; never guessed at: its amounts could be anything."""
    named = []
    for kind, listing in listings.items():
        for r in listing.rejected:
            ref = listing.references.get(r.record)
            what = "; ".join(f"{p.field} = {p.value}: {p.problem}" for p in r.problems)
            named.append(f"{kind.replace('_', ' ')} {r.record}" + (f" ({ref})" if ref else "") + f": {what}")
    if named:
        raise PostingBlocked(
            f"posting {entity} {period} stopped, nothing written: {len(named)} of our documents in {system} do not "
            f"read, so what is already billed is unknown: " + " | ".join(named[:10])
            + (" | …" if len(named) > 10 else "") + f". Correct them in {system} (or report the API's answer), then "
            "run again.")


class _StateReader:
    """Builds :class:`PartitionState` from the target's documents and the ledger, one kind at a time."""

    def __init__(self, store: OperationalStore, entity: str, period: str, groups: dict[str, Group]) -> None:
        self.store, self.entity, self.period, self.groups = store, entity, period, groups
        self.ledger_rows = store.ledger_for(entity, period)
        self.ledger_by_ref = {r["reference"]: r for r in self.ledger_rows}
        self.state = PartitionState({}, {}, {r["invoice_key"]: r for r in self.ledger_rows})
        self.key_of_ref: dict[str, str] = {}

    def group_key_for(self, client: str) -> tuple[str, str]:
        base_ref = ids.invoice_reference(self.entity, client, self.period, 1)
        if base_ref in self.groups:
            return base_ref, self.groups[base_ref].group_key
        row = self.ledger_by_ref.get(base_ref)
        if row is not None and row.get("group_key"):
            return base_ref, row["group_key"]
        return base_ref, ids.invoice_key(self.entity, client, self.period)

    def pick(self, docs: list[Document]) -> dict[str, Document]:
        """One document per reference: the live one (the lowest number when several: the others are duplicates)."""
        by_ref: dict[str, list[Document]] = defaultdict(list)
        for d in docs:
            by_ref[d.reference or ""].append(d)
        chosen = {}
        for ref, ds in by_ref.items():
            live = [d for d in ds if d.status not in DEAD]
            ranked = sorted(live or ds, key=lambda d: d.number or "")
            chosen[ref] = ranked[0]
            if len(live) > 1:
                self.state.duplicates.extend({"reference": ref, "number": d.number, "id": d.id} for d in ranked[1:])
        return chosen

    def ours(self, ref: str, credit_note: bool) -> dict[str, Any] | None:
        p = ids.parse_reference(ref)
        if not p or p["entity"] != self.entity or p["period"] != self.period:
            return None
        return p if (p["credit_note"] is not None) == credit_note else None

    def add(self, base_ref: str, key: str, doc: Doc, target_doc: Document) -> None:
        self.state.docs.setdefault(base_ref, []).append(doc)
        self.state.target_docs[key] = target_doc

    def invoices(self, by_ref: dict[str, Document]) -> list[tuple[str, Document, dict[str, Any], str, str]]:
        """Our invoices: (reference, document, parsed reference, base reference, document key)."""
        out = []
        for ref, doc in by_ref.items():
            p = self.ours(ref, credit_note=False)
            if p is None:
                continue
            base_ref, gkey = self.group_key_for(str(p["client_id"]))
            row = self.ledger_by_ref.get(ref)
            key = row["invoice_key"] if row else ids.revision_key(gkey, int(p["revision"]))
            self.key_of_ref[ref] = key
            out.append((ref, doc, p, base_ref, key))
        return out

    def stored_lines(self, invoice_keys: list[str]) -> dict[str, list[dict[str, Any]]]:
        credit_keys = [r["invoice_key"] for r in self.ledger_rows if r.get("kind") == "credit_note"]
        return PostedLines(self.store).lines_of(invoice_keys + credit_keys)

    def known(self, stored: dict[str, list[dict[str, Any]]], key: str) -> list[dict[str, Any]]:
        return stored.get(key) or _manifest(self.state.ledger.get(key))

    def add_invoices(self, parsed: list[tuple[str, Document, dict[str, Any], str, str]],
                     stored: dict[str, list[dict[str, Any]]]) -> None:
        for ref, doc, p, base_ref, key in parsed:
            ccy = str(doc.currency)
            wanted = {li.fingerprint: li for li in self.groups[base_ref].lines} if base_ref in self.groups else {}
            self.add(base_ref, key, Doc(
                key, "invoice", ref, int(p["revision"]), str(doc.status),
                lines_from_target(doc, ccy, self.known(stored, key), wanted), doc.id, doc.number,
                amount_due_minor=to_minor(doc.amount_due or Decimal(0), ccy),
                line_amount_types=doc.line_amount_types or "Exclusive"), doc)

    def add_credit_notes(self, by_ref: dict[str, Document], stored: dict[str, list[dict[str, Any]]]) -> None:
        for ref, doc in by_ref.items():
            p = self.ours(ref, credit_note=True)
            if p is None:
                continue
            base_ref, gkey = self.group_key_for(str(p["client_id"]))
            orig_ref = ref.rsplit("-CN", 1)[0]
            orig_key = self.key_of_ref.get(orig_ref) or (
                self.ledger_by_ref[orig_ref]["invoice_key"] if orig_ref in self.ledger_by_ref
                else ids.revision_key(gkey, int(p["revision"])))
            row = self.ledger_by_ref.get(ref)
            key = row["invoice_key"] if row else ids.credit_note_key(orig_key, int(p["credit_note"]))
            ccy = str(doc.currency)
            allocated: dict[str, int] = {}
            for a in doc.allocations:
                inv_id = a.document_id or ""
                allocated[inv_id] = allocated.get(inv_id, 0) + to_minor(a.amount or Decimal(0), ccy)
            # a credit note's lines are copies of the lines it credits: the original's entries are its entries
            original = {li.fingerprint: li for d0 in self.state.docs.get(base_ref, []) if d0.key == orig_key
                        for li in d0.lines}
            self.add(base_ref, key, Doc(
                key, "credit_note", ref, int(p["revision"]), str(doc.status),
                lines_from_target(doc, ccy, self.known(stored, key), original), doc.id, doc.number,
                original_key=orig_key, credit_number=int(p["credit_note"]),
                remaining_credit_minor=to_minor(doc.amount_due, ccy) if doc.amount_due is not None else 0,
                allocated_minor=allocated, line_amount_types=doc.line_amount_types or "Exclusive"), doc)

    def add_missing(self) -> None:
        """Posted documents the accounting system no longer has at all: dead, but their numbers stay taken."""
        seen = set(self.state.target_docs)
        for row in self.ledger_rows:
            if row["invoice_key"] in seen or row["status"] != "posted":
                continue
            p = ids.parse_reference(row["reference"])
            if not p:
                continue
            base_ref = ids.invoice_reference(self.entity, str(p["client_id"]), self.period, 1)
            self.state.anomalies.append(f"{row['reference']} ({row.get('target_number')}) was posted but the "
                                        "accounting system no longer has it")
            self.state.docs.setdefault(base_ref, []).append(Doc(
                row["invoice_key"], row.get("kind") or "invoice", row["reference"], int(p["revision"]), "MISSING", [],
                row.get("target_id"), row.get("target_number"), original_key=row.get("original_key"),
                credit_number=p["credit_note"] if isinstance(p["credit_note"], int) else None))


def load_state(target: AccountingTarget, store: OperationalStore, entity: str, period: str,
               groups: dict[str, Group]) -> PartitionState:
    """Our documents for the partition, from the accounting system (two bulk reads) and the ledger."""
    prefix = ids.reference_prefix(entity, period)
    invoices = target.documents("invoice", reference_prefix=prefix)
    credits = target.documents("credit_note", reference_prefix=prefix)
    require_readable(entity, period, {"invoice": invoices, "credit_note": credits}, target.name)
    reader = _StateReader(store, entity, period, groups)
    inv_by_ref, cn_by_ref = reader.pick(invoices.documents), reader.pick(credits.documents)
    parsed = reader.invoices(inv_by_ref)
    stored = reader.stored_lines([key for *_, key in parsed])
    reader.add_invoices(parsed, stored)
    reader.add_credit_notes(cn_by_ref, stored)
    reader.add_missing()
    return reader.state
