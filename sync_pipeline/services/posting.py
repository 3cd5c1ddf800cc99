"""Posting: plan what the accounting system should hold, then apply the plan exactly once.

1. **Plan** (``build_plan``, a dry run): the desired state is what billing drafted for the partition;
   the current state is our documents in the accounting system — every invoice revision and credit
   note under the partition's reference prefix, read in bulk — joined with the operational store
   (which document key, which source entries). ``domain.invoice_plan`` turns the difference into
   document operations per invoice group: create, update a draft, void a draft, credit, adjust.
2. **Apply** (``apply_plan``): the kill switch and the guard come first; then contacts (matched by
   ContactNumber or created, in batches), voids and draft updates, credit notes, new invoices and
   rebills (batches of up to 50), and credit allocations. Every write carries an ``Idempotency-Key``
   derived from its business keys and payloads; the intent is recorded in the sync ledger before
   the request and the result after it, so a crash anywhere is recovered by the next plan (which
   reads the accounting system again). Transient errors are retried by the HTTP layer and, when they
   persist, leave the document pending for the next run; permanent errors park the write in the
   dead-letter store with its payload, error, attempts and source records.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.connectors.http import HttpError, PermanentError, TransientError
from sync_pipeline.connectors.xero import (
    MAX_BATCH,
    XeroClient,
    contact_payload,
    credit_note_payload,
    invoice_payload,
)
from sync_pipeline.connectors.xero.records import read_documents
from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import (
    Doc,
    DocOp,
    Group,
    GroupPlan,
    Limits,
    Line,
    guard_breaches,
    invoices_written,
    plan_group,
    plan_totals,
)
from sync_pipeline.domain.money import from_minor, to_minor
from sync_pipeline.domain.periods import Period, today_in
from sync_pipeline.store.controls import Controls, PostingControls
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.operational import OperationalStore, contact_map, sync_ledger
from sync_pipeline.store.posted_lines import PostedLines

log = logging.getLogger(__name__)

#: Xero answers up to 1000 documents per page when asked (``pageSize``): one read per partition.
LIST_PAGE_SIZE = 1000
SOURCE_SYSTEM = "harvest"


class PostingBlocked(RuntimeError):
    """The plan may not be posted as it stands (the guard's limits, or duplicates found in the target)."""


class PostingIncomplete(RuntimeError):
    """Some writes could not be confirmed (the target kept failing); they are pending, not lost."""


@dataclass(frozen=True)
class PostingRun:
    """Who and what is posting: written to the ledger, the audit log and every result row.

    ``triggered_by`` is an authenticated user or named automation. ``approved_by`` / ``approved_at`` /
    ``plan_hash`` are never given by the caller: ``apply_plan`` sets them from the plan's approval
    (``services.approvals``); an approval by a person also lets a plan over the guard's limits post.
    """

    triggered_by: str
    run_id: str | None = None
    approved_by: str | None = None
    override_guard: bool = False
    approved_at: str | None = None
    plan_hash: str | None = None
    mapping_hash: str | None = None


# -- the desired state --------------------------------------------------------------------------
def _approver(row: dict[str, Any]) -> str | None:
    for col in ("approved_by", "approver", "approver_name"):
        v = row.get(col)
        if v is not None and v == v and str(v):
            return str(v)
    return None


def _minor_or_none(v: Any) -> int | None:
    return None if v is None or v != v or v is pd.NA else int(v)


def _text(v: Any) -> str | None:
    return None if v is None or v != v or v is pd.NA or str(v) == "" else str(v)


def desired_groups(drafts: pd.DataFrame) -> dict[str, Group]:
    """Draft lines → invoice groups (keyed by the reference of revision 1), lines carrying their entries."""
    groups: dict[str, Group] = {}
    if drafts is None or not len(drafts):
        return groups
    for r in drafts.sort_values(["reference", "line_no"], kind="stable").to_dict("records"):
        ref = str(r["reference"])
        g = groups.get(ref)
        if g is None:
            g = groups[ref] = Group(str(r["invoice_key"]), ref, str(r["client_id"]), str(r["client_name"]),
                                    str(r["currency"]), [], _text(r.get("line_amount_types")) or "Exclusive")
        entries = tuple(e for e in str(r["source_entry_ids"]).split(",") if e)
        lk = ids.line_key(entries)
        category, option = _text(r.get("tracking_category")), _text(r.get("tracking_option"))
        g.lines.append(Line(f"{r['description']} ({ids.line_reference(lk)})", Decimal(r["quantity"]),
                            Decimal(r["unit_amount"]), int(r["line_amount_minor"]), str(r["account_code"]),
                            str(r["tax_type"]), entries, lk, _approver(r), _text(r.get("item_code")),
                            ((category, option),) if category and option else (), _text(r.get("approved_at")),
                            _minor_or_none(r.get("tax_amount_minor"))))
    return groups


# -- the current state --------------------------------------------------------------------------
@dataclass
class PartitionState:
    docs: dict[str, list[Doc]]  # base reference → our documents
    raw: dict[str, dict[str, Any]]  # document key → the accounting system's document
    ledger: dict[str, dict[str, Any]]  # document key → ledger row
    anomalies: list[str] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)


def target_line(li: dict[str, Any], currency: str) -> Line:
    """A line as the accounting system holds it (content only: entries come from the store or the drafts)."""
    tracking = tuple(sorted((str(t.get("Name")), str(t.get("Option"))) for t in li.get("Tracking") or []
                            if t.get("Name") and t.get("Option")))
    return Line(str(li.get("Description") or ""), Decimal(str(li.get("Quantity", 0))),
                Decimal(str(li.get("UnitAmount", 0))), to_minor(Decimal(str(li.get("LineAmount", 0))), currency),
                str(li.get("AccountCode") or ""), str(li.get("TaxType") or ""),
                item_code=str(li["ItemCode"]) if li.get("ItemCode") else None, tracking=tracking,
                tax_amount_minor=(to_minor(Decimal(str(li["TaxAmount"])), currency)
                                  if li.get("TaxAmount") is not None else None))


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


def _lines_from_target(doc: dict[str, Any], currency: str, known: list[dict[str, Any]],
                       wanted: dict[str, Line]) -> list[Line]:
    """The target's lines, each with its source entries from (in order) the posted-lines store, the manifest
    of the last write, or the lines it should hold (``wanted``)."""
    stored: dict[str, dict[str, Any]] = {}
    for r in known:
        stored.setdefault(r["fingerprint"], r)
    out = []
    for li in doc.get("LineItems") or []:
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


def require_readable(entity: str, period: str, docs: dict[str, list[Any]]) -> None:
    """Our documents in the accounting system, each read strictly (``connectors.xero.records``), or
    :class:`PostingBlocked` naming every one that does not read. Never skipped: a document of ours left out would
    look "not posted" and be billed a second time; never guessed at: its amounts could be anything."""
    named = []
    for collection, listed in docs.items():
        for r in read_documents(collection, listed)[1]:
            raw = listed[r.position - 1] if r.position else None
            ref = raw.get("Reference") if isinstance(raw, dict) else None
            what = "; ".join(f"{p.field} = {p.value}: {p.problem}" for p in r.problems)
            named.append(f"{collection[:-1]} {r.record}" + (f" ({ref})" if isinstance(ref, str) else "") + f": {what}")
    if named:
        raise PostingBlocked(
            f"posting {entity} {period} stopped, nothing written: {len(named)} of our documents in Xero do not read, "
            f"so what is already billed is unknown: " + " | ".join(named[:10]) + (" | …" if len(named) > 10 else "")
            + ". Correct them in Xero (or report the API's answer), then run again.")


def load_state(xero: XeroClient, store: OperationalStore, entity: str, period: str,
               groups: dict[str, Group]) -> PartitionState:
    """Our documents for the partition, from the accounting system (two bulk reads) and the ledger."""
    prefix = ids.reference_prefix(entity, period)
    where = f'Reference.StartsWith("{prefix}")'
    invoices = xero.list_all("Invoices", where=where, page_size=LIST_PAGE_SIZE)
    credits = xero.list_all("CreditNotes", where=where, page_size=LIST_PAGE_SIZE)
    require_readable(entity, period, {"Invoices": invoices, "CreditNotes": credits})
    ledger_rows = store.ledger_for(entity, period)
    ledger_by_ref = {r["reference"]: r for r in ledger_rows}
    ledger = {r["invoice_key"]: r for r in ledger_rows}
    state = PartitionState({}, {}, ledger)

    def group_key_for(client: str) -> tuple[str, str]:
        base_ref = ids.invoice_reference(entity, client, period, 1)
        if base_ref in groups:
            return base_ref, groups[base_ref].group_key
        row = ledger_by_ref.get(base_ref)
        if row is not None and row.get("group_key"):
            return base_ref, row["group_key"]
        return base_ref, ids.invoice_key(entity, client, period)

    def pick(docs: list[dict[str, Any]], ref_field: str = "Reference") -> dict[str, dict[str, Any]]:
        by_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in docs:
            by_ref[str(d.get(ref_field) or "")].append(d)
        chosen = {}
        for ref, ds in by_ref.items():
            live = [d for d in ds if d.get("Status") not in ("VOIDED", "DELETED")]
            ranked = sorted(live or ds, key=lambda d: str(d.get("InvoiceNumber") or d.get("CreditNoteNumber") or ""))
            chosen[ref] = ranked[0]
            if len(live) > 1:
                state.duplicates.extend({"reference": ref, "number": d.get("InvoiceNumber") or d.get("CreditNoteNumber"),
                                         "id": d.get("InvoiceID") or d.get("CreditNoteID")} for d in ranked[1:])
        return chosen

    inv_by_ref = pick(invoices)
    cn_by_ref = pick(credits)
    key_of_ref: dict[str, str] = {}
    parsed_invoices = []
    for ref, doc in inv_by_ref.items():
        p = ids.parse_reference(ref)
        if not p or p["entity"] != entity or p["period"] != period or p["credit_note"] is not None:
            continue
        base_ref, gkey = group_key_for(str(p["client_id"]))
        row = ledger_by_ref.get(ref)
        key = row["invoice_key"] if row else ids.revision_key(gkey, int(p["revision"]))
        key_of_ref[ref] = key
        parsed_invoices.append((ref, doc, p, base_ref, key))
    stored_lines = PostedLines(store).lines_of([k for *_, k in parsed_invoices]
                                               + [r["invoice_key"] for r in ledger_rows if r.get("kind") == "credit_note"])
    for ref, doc, p, base_ref, key in parsed_invoices:
        ccy = str(doc.get("CurrencyCode"))
        wanted = {li.fingerprint: li for li in groups[base_ref].lines} if base_ref in groups else {}
        known = stored_lines.get(key) or _manifest(ledger.get(key))
        d = Doc(key, "invoice", ref, int(p["revision"]), str(doc.get("Status")),
                _lines_from_target(doc, ccy, known, wanted), doc.get("InvoiceID"),
                doc.get("InvoiceNumber"), amount_due_minor=to_minor(Decimal(str(doc.get("AmountDue") or 0)), ccy),
                line_amount_types=str(doc.get("LineAmountTypes") or "Exclusive"))
        state.docs.setdefault(base_ref, []).append(d)
        state.raw[key] = doc
    for ref, doc in cn_by_ref.items():
        p = ids.parse_reference(ref)
        if not p or p["entity"] != entity or p["period"] != period or p["credit_note"] is None:
            continue
        base_ref, gkey = group_key_for(str(p["client_id"]))
        orig_ref = ref.rsplit("-CN", 1)[0]
        orig_key = key_of_ref.get(orig_ref) or (ledger_by_ref[orig_ref]["invoice_key"] if orig_ref in ledger_by_ref
                                                else ids.revision_key(gkey, int(p["revision"])))
        row = ledger_by_ref.get(ref)
        key = row["invoice_key"] if row else ids.credit_note_key(orig_key, int(p["credit_note"]))
        ccy = str(doc.get("CurrencyCode"))
        allocated: dict[str, int] = {}
        for a in doc.get("Allocations") or []:
            inv_id = str((a.get("Invoice") or {}).get("InvoiceID") or "")
            allocated[inv_id] = allocated.get(inv_id, 0) + to_minor(Decimal(str(a.get("Amount") or 0)), ccy)
        remaining = doc.get("RemainingCredit")
        # a credit note's lines are copies of the lines it credits: the original's entries are its entries
        original = {li.fingerprint: li for d0 in state.docs.get(base_ref, []) if d0.key == orig_key for li in d0.lines}
        known = stored_lines.get(key) or _manifest(ledger.get(key))
        d = Doc(key, "credit_note", ref, int(p["revision"]), str(doc.get("Status")),
                _lines_from_target(doc, ccy, known, original), doc.get("CreditNoteID"),
                doc.get("CreditNoteNumber"), original_key=orig_key, credit_number=int(p["credit_note"]),
                remaining_credit_minor=to_minor(Decimal(str(remaining)), ccy) if remaining is not None else 0,
                allocated_minor=allocated, line_amount_types=str(doc.get("LineAmountTypes") or "Exclusive"))
        state.docs.setdefault(base_ref, []).append(d)
        state.raw[key] = doc
    # posted documents the accounting system no longer has at all: dead, but their numbers stay taken
    seen = set(state.raw)
    for row in ledger_rows:
        if row["invoice_key"] in seen or row["status"] != "posted":
            continue
        p = ids.parse_reference(row["reference"])
        if not p:
            continue
        base_ref = ids.invoice_reference(entity, str(p["client_id"]), period, 1)
        state.anomalies.append(f"{row['reference']} ({row.get('target_number')}) was posted but the accounting "
                               "system no longer has it")
        state.docs.setdefault(base_ref, []).append(Doc(
            row["invoice_key"], row.get("kind") or "invoice", row["reference"], int(p["revision"]), "MISSING", [],
            row.get("target_id"), row.get("target_number"), original_key=row.get("original_key"),
            credit_number=p["credit_note"] if isinstance(p["credit_note"], int) else None))
    return state


# -- the plan -----------------------------------------------------------------------------------
@dataclass
class Plan:
    entity: EntityConfig
    period: Period
    groups: dict[str, Group]
    state: PartitionState
    plans: list[GroupPlan]
    controls: Controls
    new_status: str
    invoice_date: date
    credit_date: date
    held: dict[str, str] = field(default_factory=dict)  # document key → why it is held back
    held_letters: dict[str, int] = field(default_factory=dict)  # document key → open dead letter id

    @property
    def limits(self) -> Limits:
        return Limits(self.controls.max_invoices, dict(self.controls.max_total_minor))

    @property
    def breaches(self) -> list[str]:
        problems = guard_breaches(self.plans, self.limits)
        if self.state.duplicates:
            problems.append(f"{len(self.state.duplicates)} duplicate document(s) found in the accounting system: "
                            + ", ".join(f"{d['reference']} ({d['number']})" for d in self.state.duplicates[:5])
                            + " — void the extra ones by hand, then re-run")
        return problems

    @property
    def ops(self) -> list[tuple[GroupPlan, DocOp]]:
        return [(p, o) for p in self.plans for o in p.ops]

    def totals(self) -> dict[str, dict[str, str]]:
        return {ccy: {k.removesuffix("_minor"): str(from_minor(v, ccy)) for k, v in t.items()}
                for ccy, t in plan_totals(self.plans).items()}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.plans:
            out[p.action] = out.get(p.action, 0) + 1
        return out

    @property
    def documents_written(self) -> int:
        return invoices_written(self.plans)


def op_content_hash(op: DocOp) -> str:
    """What a write says, without dates: the same write on another day is the same write."""
    parts = [op.op, op.key, op.reference, str(op.status), str(op.target_id), str(op.original_target_id),
             str(op.amount_minor), *[li.fingerprint for li in op.lines]]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def build_plan(drafts: pd.DataFrame, *, entity: EntityConfig, period: Period, xero: XeroClient,
               store: OperationalStore, today: date | None = None) -> Plan:
    """The dry run: what posting would write now, and what it would hold back."""
    groups = desired_groups(drafts)
    state = load_state(xero, store, entity.key, period.key, groups)
    today = today or today_in(entity.timezone)
    new_status = "AUTHORISED" if today > period.end else "DRAFT"  # the period closed in the entity's time zone
    plans: list[GroupPlan] = []
    for base_ref in sorted(set(groups) | set(state.docs)):
        docs = state.docs.get(base_ref, [])
        g = groups.get(base_ref)
        if g is not None:
            plans.append(plan_group(g, docs, new_status=new_status))
            continue
        p = ids.parse_reference(base_ref)
        first = next((d for d in docs if d.kind == "invoice" and d.key in state.raw), None)
        ccy = str(state.raw[first.key].get("CurrencyCode")) if first else entity.base_currency
        name = str(((state.raw[first.key].get("Contact") or {}).get("Name")) or "") if first else ""
        gkey = ids.invoice_key(entity.key, str(p["client_id"]), period.key) if p else base_ref
        row = state.ledger.get(gkey)
        plans.append(plan_group(None, docs, new_status=new_status, base_key=row["group_key"] if row and row.get(
            "group_key") else gkey, base_reference=base_ref, client_id=str(p["client_id"]) if p else "",
                                currency=ccy, client_name=name,
                                line_amount_types=str(state.raw[first.key].get("LineAmountTypes") or "Exclusive")
                                if first else "Exclusive"))
    plan = Plan(entity, period, groups, state, plans, PostingControls(store).get(entity.key), new_status,
                min(period.end, today), today)
    letters = DeadLetters(store).held_keys(entity.key, period.key)
    for _, op in plan.ops:
        letter = letters.get((op.key, op_content_hash(op)))
        if letter is not None:
            plan.held[op.key] = f"dead letter #{letter} is open: fix the cause, then `sync-pipeline dlq replay {letter}`"
            plan.held_letters[op.key] = letter
    if not plan.controls.posting_enabled:
        for _, op in plan.ops:
            plan.held.setdefault(op.key, f"posting is paused for {entity.key} by {plan.controls.changed_by} "
                                         f"({plan.controls.reason}); `sync-pipeline posting resume --entity {entity.key}`")
    return plan


PLAN_COLUMNS = ["entity", "period", "group_key", "base_reference", "client_id", "client_name", "currency", "action",
                "op", "doc_key", "doc_kind", "reference", "revision", "status_after", "line_count", "amount_minor",
                "delta_minor", "source_entry_ids", "original_reference", "held", "explanation"]


def plan_frame(plan: Plan) -> pd.DataFrame:
    """One row per planned write, and one per group left as it is: the plan a person reviews."""
    rows = []
    for p in plan.plans:
        base = {"entity": plan.entity.key, "period": plan.period.key, "group_key": p.group_key,
                "base_reference": p.base_reference, "client_id": p.client_id, "client_name": p.client_name,
                "currency": p.currency, "action": p.action, "explanation": p.explanation or None}
        if not p.ops:
            rows.append({**base, "op": None, "doc_key": None, "doc_kind": None, "reference": None, "revision": None,
                         "status_after": None, "line_count": 0, "amount_minor": 0, "delta_minor": 0,
                         "source_entry_ids": None, "original_reference": None, "held": None})
        for o in p.ops:
            rows.append({**base, "op": o.op, "doc_key": o.key, "doc_kind": o.kind, "reference": o.reference,
                         "revision": o.revision, "status_after": o.status, "line_count": len(o.lines),
                         "amount_minor": o.amount_minor, "delta_minor": o.delta_minor,
                         "source_entry_ids": ",".join(o.source_entry_ids) or None,
                         "original_reference": o.original_reference, "held": plan.held.get(o.key)})
    df = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    return df.astype({"revision": "Int64"}) if len(df) else df


# -- applying it --------------------------------------------------------------------------------
def _digest_key(prefix: str, keys: list[str], payloads: list[Any]) -> str:
    h = hashlib.sha256()
    for k, p in zip(keys, payloads, strict=True):
        h.update(k.encode())
        h.update(dumps(p))
    return f"{prefix}-{h.hexdigest()[:40]}"


def _line_payload(li: Line, currency: str) -> dict[str, Any]:
    return {"description": li.description, "quantity": li.quantity, "unit_amount": li.unit_amount,
            "line_amount": from_minor(li.amount_minor, currency), "account_code": li.account_code,
            "tax_type": li.tax_type, "item_code": li.item_code, "tracking": li.tracking,
            "tax_amount": from_minor(li.tax_amount_minor, currency) if li.tax_amount_minor is not None else None}


def _xero_lines(lines: list[Line], currency: str) -> list[dict[str, Any]]:
    return invoice_payload(contact_id="", reference="", currency=currency, date="", due_date="", status="",
                           lines=[_line_payload(li, currency) for li in lines])["LineItems"]


def _line_record(li: Line) -> dict[str, Any]:
    return {"fingerprint": li.fingerprint, "description": li.description, "quantity": li.quantity,
            "unit_amount": li.unit_amount, "amount_minor": li.amount_minor, "line_key": li.line_key,
            "source_entry_ids": list(li.source_entry_ids), "approved_by": li.approved_by,
            "approved_at": li.approved_at}


def _errors(item: dict[str, Any]) -> list[str]:
    return [str(v.get("Message", "")) for v in item.get("ValidationErrors") or []]


@dataclass
class Outcome:
    doc_key: str
    outcome: str  # created | updated | voided | allocated | failed | held | pending
    error: str | None = None
    dead_letter_id: int | None = None
    document: dict[str, Any] | None = None


class _Applier:
    def __init__(self, plan: Plan, xero: XeroClient, store: OperationalStore, run: PostingRun,
                 replay: set[int] | None, concurrency: int = 1) -> None:
        self.plan, self.xero, self.store, self.run = plan, xero, store, run
        self.concurrency = concurrency
        self.replay = replay or set()
        self.letters = DeadLetters(store)
        self.lines = PostedLines(store)
        self.outcomes: dict[str, Outcome] = {}
        self.contacts: dict[str, str] = {}
        self.contact_errors: dict[str, tuple[str, int]] = {}
        self.group_contacts = self.contacts_of_groups(plan)
        self.approvers: dict[str, str | None] = {}
        self.calls_before = xero.http.request_count

    # -- bookkeeping ------------------------------------------------------------------------
    @property
    def e(self) -> str:
        return self.plan.entity.key

    @property
    def p(self) -> str:
        return self.plan.period.key

    def approver(self, op: DocOp) -> str | None:
        names = sorted({li.approved_by for li in op.lines if li.approved_by})
        parts = ([f"lines: {', '.join(names)}"] if names else []) + (
            [f"posting: {self.run.approved_by} at {self.run.approved_at} (plan {str(self.run.plan_hash)[:12]})"]
            if self.run.approved_by else [])
        return "; ".join(parts) or None

    def pending_row(self, gp: GroupPlan, op: DocOp, payload: Any, idem: str) -> dict[str, Any]:
        return {"invoice_key": op.key, "entity": self.e, "period": self.p, "client_id": gp.client_id,
                "revision": op.revision, "reference": op.reference, "payload_hash": op_content_hash(op),
                "idempotency_key": idem, "triggered_by": self.run.triggered_by, "kind": op.kind,
                "group_key": gp.group_key, "original_key": op.original_key, "last_op": op.op,
                "payload": dumps({"request": payload, "lines": [_line_record(li) for li in op.lines]}).decode(),
                "currency": gp.currency,
                "subtotal_minor": op.amount_minor if op.op != "allocate_credit" else None,
                "approved_by": self.approver(op), "run_id": self.run.run_id, "plan_hash": self.run.plan_hash,
                "plan_approved_by": self.run.approved_by, "plan_approved_at": self.run.approved_at,
                "mapping_hash": self.run.mapping_hash}

    def posted_many(self, conn: sa.Connection, done: list[tuple[GroupPlan, DocOp, dict[str, Any]]]) -> None:
        """Record a batch's confirmed documents: ledger, lines and entry links, audit — in one transaction."""
        ledger, docs, audit = [], [], []
        for gp, op, doc in done:
            id_field, num_field = ("CreditNoteID", "CreditNoteNumber") if op.kind == "credit_note" else (
                "InvoiceID", "InvoiceNumber")
            ledger.append({"invoice_key": op.key, "target_id": doc[id_field], "target_number": doc.get(num_field),
                           "status": "voided" if op.op == "void_invoice" else "posted",
                           "target_status": doc.get("Status"),
                           "subtotal_minor": to_minor(Decimal(str(doc.get("SubTotal") or 0)), gp.currency)})
            docs.append({"doc_key": op.key, "kind": op.kind, "reference": op.reference, "currency": gp.currency,
                         "lines": [] if op.op == "void_invoice" else [
                             {**_line_record(li), "plan_approved_by": self.run.approved_by,
                              "plan_approved_at": self.run.approved_at, "plan_hash": self.run.plan_hash}
                             for li in op.lines]})
            audit.append({"actor": self.run.triggered_by, "action": op.op, "entity": self.e, "subject": op.reference,
                          "detail": {"doc_key": op.key, "target_id": doc.get(id_field),
                                     "number": doc.get(num_field), "status": doc.get("Status"),
                                     "run_id": self.run.run_id, "approved_by": self.approver(op),
                                     "plan_hash": self.run.plan_hash, "mapping_hash": self.run.mapping_hash,
                                     "original_reference": op.original_reference,
                                     "amount_minor": op.amount_minor, "source_entries": op.source_entry_ids}})
        self.store.record_posted_many(conn, ledger)
        self.lines.record_many(conn, entity=self.e, period=self.p, docs=docs)
        self.store.audit_many(conn, audit)

    def park(self, gp: GroupPlan, op: DocOp, error: str, payload: Any, detail: Any = None) -> None:
        letter = self.letters.park(
            entity=self.e, period=self.p, doc_key=op.key, kind=op.kind, operation=op.op, error=error, payload=payload,
            payload_hash=op_content_hash(op), reference=op.reference, group_key=gp.group_key, client_id=gp.client_id,
            error_detail=detail, run_id=self.run.run_id, triggered_by=self.run.triggered_by,
            source_records={"lines": [_line_record(li) for li in op.lines], "original_reference": op.original_reference,
                            "client_name": gp.client_name, "currency": gp.currency})
        if op.op in ("create_invoice", "create_credit_note"):
            self.store.record_failed(op.key)
        self.outcomes[op.key] = Outcome(op.key, "failed", error, letter)
        log.error("%s %s parked as dead letter #%d: %s", op.op, op.reference, letter, error)

    def resolve_letters(self, op: DocOp, doc: dict[str, Any]) -> None:
        number = doc.get("InvoiceNumber") or doc.get("CreditNoteNumber") or doc.get("InvoiceID")
        status = "replayed" if op.key in self.plan.held_letters else "superseded"
        self.letters.resolve(op.key, status, f"{op.op} succeeded ({number}) in run {self.run.run_id} "
                                             f"triggered by {self.run.triggered_by}")

    # -- contacts ---------------------------------------------------------------------------
    @staticmethod
    def contacts_of_groups(plan: Plan) -> dict[str, str]:
        """Per group with a live invoice in the target: that invoice's contact. A credit note and a rebill go to
        the contact of the invoice they correct (an allocation needs it), even when that contact was chosen by
        hand (manual billing fallback) or changed since."""
        out: dict[str, str] = {}
        for gp in plan.plans:
            docs = [d for d in plan.state.docs.get(gp.base_reference, [])
                    if d.kind == "invoice" and d.live and d.key in plan.state.raw]
            for d in sorted(docs, key=lambda d: d.revision, reverse=True):
                cid = (plan.state.raw[d.key].get("Contact") or {}).get("ContactID")
                if cid:
                    out[gp.group_key] = str(cid)
                    break
        return out

    def contact_for(self, gp: GroupPlan) -> str | None:
        return self.group_contacts.get(gp.group_key) or self.contacts.get(gp.client_id)

    def ensure_contacts(self, needed: dict[str, tuple[str, str, GroupPlan]]) -> None:
        """``needed``: client id → (name, currency, a group): match by ContactNumber, else create (batched)."""
        unknown = {}
        with self.store.engine.connect() as c:
            mapped = {r.client_id: r.contact_id for r in c.execute(
                sa.select(contact_map.c.client_id, contact_map.c.contact_id).where(contact_map.c.entity == self.e))}
        for cid, (name, ccy, gp) in needed.items():
            known = mapped.get(cid)
            if known:
                self.contacts[cid] = known
            else:
                unknown[ids.contact_number(SOURCE_SYSTEM, cid)] = (cid, name, ccy, gp)
        if not unknown:
            return
        numbers = sorted(unknown)
        found: dict[str, dict[str, Any]] = {}
        if len(numbers) <= 20:
            for i in range(0, len(numbers), 10):
                chunk = numbers[i:i + 10]
                where = " OR ".join(f'ContactNumber=="{n}"' for n in chunk)
                for c in self.xero.list_all("Contacts", where=where):
                    found.setdefault(str(c.get("ContactNumber")), c)
        else:
            for c in self.xero.list_all("Contacts", page_size=LIST_PAGE_SIZE):
                if c.get("ContactNumber") in unknown:
                    found.setdefault(str(c["ContactNumber"]), c)
        for number, c in found.items():
            cid = unknown[number][0]
            self.store.remember_contact(self.e, cid, c["ContactID"], number)
            self.contacts[cid] = c["ContactID"]
        missing = [n for n in numbers if n not in found]
        for i in range(0, len(missing), MAX_BATCH):
            chunk = missing[i:i + MAX_BATCH]
            payloads = [contact_payload(unknown[n][1], n, unknown[n][2]) for n in chunk]
            idem = _digest_key(f"contacts-{self.e}", chunk, payloads)
            try:
                created = self.xero.create_contacts(payloads, idempotency_key=idem)
            except PermanentError as err:
                created = [{"HasErrors": True, "ValidationErrors": [{"Message": str(err)}]} for _ in chunk]
            for n, payload, item in zip(chunk, payloads, created, strict=True):
                cid, name, _, gp = unknown[n]
                if item.get("HasErrors") or not item.get("ContactID"):
                    msg = "; ".join(_errors(item)) or "no ContactID returned"
                    letter = self.letters.park(
                        entity=self.e, period=self.p, doc_key=f"contact-{cid}", kind="contact",
                        operation="create_contact", error=f"cannot create contact {n} ({name}): {msg}",
                        payload=payload, payload_hash=ids.payload_hash(dumps(payload)), reference=n,
                        group_key=gp.group_key, client_id=cid, error_detail={"validation_errors": _errors(item)},
                        run_id=self.run.run_id, triggered_by=self.run.triggered_by,
                        source_records={"client_id": cid, "client_name": name})
                    self.contact_errors[cid] = (f"contact {n} ({name}) could not be created: {msg}", letter)
                    continue
                self.store.remember_contact(self.e, cid, item["ContactID"], n)
                self.contacts[cid] = item["ContactID"]
        waiting = {r["doc_key"] for r in self.letters.open_for(self.e) if r["kind"] == "contact"}
        for cid in self.contacts:
            if f"contact-{cid}" in waiting:
                self.letters.resolve(f"contact-{cid}", "replayed", f"contact resolved in run {self.run.run_id}")

    def forget_contact(self, client_id: str) -> None:
        with self.store.engine.begin() as c:
            c.execute(contact_map.delete().where(contact_map.c.entity == self.e, contact_map.c.client_id == client_id))

    # -- one kind of write, in batches --------------------------------------------------------
    def write(self, ops: list[tuple[GroupPlan, DocOp]], build, send, id_field: str) -> None:
        """Send ``ops`` in batches of up to 50, up to ``concurrency`` batches in flight (disjoint documents)."""
        batches = [ops[i:i + MAX_BATCH] for i in range(0, len(ops), MAX_BATCH)]
        if self.concurrency <= 1 or len(batches) <= 1:
            for batch in batches:
                self.write_batch(batch, build, send, id_field)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="posting") as pool:
            for f in [pool.submit(self.write_batch, b, build, send, id_field) for b in batches]:
                f.result()

    def write_batch(self, batch: list[tuple[GroupPlan, DocOp]], build, send, id_field: str) -> None:
        payloads = [build(gp, op) for gp, op in batch]
        idem = _digest_key(f"{batch[0][1].op}-{self.e}", [op.key for _, op in batch], payloads)
        with self.store.engine.begin() as conn:
            self.store.record_pending_many(conn, [self.pending_row(gp, op, payload, idem)
                                                  for (gp, op), payload in zip(batch, payloads, strict=True)])
        try:
            results = send(payloads, idem)
        except TransientError as err:
            for _, op in batch:
                self.outcomes[op.key] = Outcome(op.key, "pending", str(err))
            return
        except PermanentError as err:
            for (gp, op), payload in zip(batch, payloads, strict=True):
                self.park(gp, op, str(err), payload, {"status": err.status, "body": err.body})
            return
        if len(results) != len(batch):
            for _, op in batch:
                self.outcomes[op.key] = Outcome(op.key, "pending", f"the target answered {len(results)} "
                                                                   f"items for {len(batch)} sent")
            return
        done = []
        for (gp, op), payload, item in zip(batch, payloads, results, strict=True):
            errs = _errors(item)
            if item.get("HasErrors") or errs or not item.get(id_field):
                msg = "; ".join(errs) or "the target returned no document id"
                if any("valid ContactID" in m for m in errs):
                    self.forget_contact(gp.client_id)  # the mapped contact is gone: re-resolve on replay
                self.park(gp, op, msg, payload, {"validation_errors": errs})
                continue
            done.append((gp, op, item))
        with self.store.engine.begin() as conn:
            self.posted_many(conn, done)
        held = {x["doc_key"] for x in self.letters.open_for(self.e, self.p)} if done else set()
        for _, op, item in done:
            kind = {"create_invoice": "created", "create_credit_note": "created", "update_invoice": "updated",
                    "void_invoice": "voided"}[op.op]
            self.outcomes[op.key] = Outcome(op.key, kind, document=item)
            if op.key in held:
                self.resolve_letters(op, item)

    # -- the whole plan -----------------------------------------------------------------------
    def apply(self) -> None:
        plan = self.plan
        todo: list[tuple[GroupPlan, DocOp]] = []
        for gp, op in plan.ops:
            letter = plan.held_letters.get(op.key)
            if op.key in plan.held and not (letter is not None and letter in self.replay
                                            and plan.controls.posting_enabled):
                self.outcomes[op.key] = Outcome(op.key, "held", plan.held[op.key], letter)
                continue
            todo.append((gp, op))
        # contacts first, for every document we create
        needed = {gp.client_id: (gp.client_name, gp.currency, gp) for gp, op in todo
                  if op.op in ("create_invoice", "create_credit_note") and gp.group_key not in self.group_contacts}
        if needed:
            self.ensure_contacts(needed)
        ready = []
        for gp, op in todo:
            if op.op in ("create_invoice", "create_credit_note") and self.contact_for(gp) is None:
                msg, letter = self.contact_errors.get(gp.client_id, ("no contact for the client", None))
                self.park(gp, op, f"blocked: {msg}", None, {"contact_dead_letter": letter})
                continue
            ready.append((gp, op))
        by_op: dict[str, list[tuple[GroupPlan, DocOp]]] = defaultdict(list)
        for gp, op in ready:
            by_op[op.op].append((gp, op))
        def terms(gp: GroupPlan) -> timedelta:  # the client's payment terms, else the entity's
            client = plan.entity.client(gp.client_id)
            days = client.payment_terms_days if client else None
            return timedelta(days=plan.entity.payment_terms_days if days is None else days)

        def invoice_update(gp: GroupPlan, op: DocOp) -> dict[str, Any]:
            if op.op == "void_invoice":
                return {"InvoiceID": op.target_id, "Status": op.status}
            return {"InvoiceID": op.target_id, "Status": op.status, "LineAmountTypes": op.line_amount_types,
                    "LineItems": _xero_lines(op.lines, gp.currency)}

        def new_invoice(gp: GroupPlan, op: DocOp) -> dict[str, Any]:
            d = plan.invoice_date if op.revision == 1 else max(plan.invoice_date, plan.credit_date)
            return invoice_payload(contact_id=str(self.contact_for(gp)), reference=op.reference,
                                   currency=gp.currency, date=d.isoformat(), due_date=(d + terms(gp)).isoformat(),
                                   status=op.status or plan.new_status,
                                   lines=[_line_payload(li, gp.currency) for li in op.lines],
                                   line_amount_types=op.line_amount_types)

        def new_credit(gp: GroupPlan, op: DocOp) -> dict[str, Any]:
            return credit_note_payload(contact_id=str(self.contact_for(gp)), reference=op.reference,
                                       currency=gp.currency, date=plan.credit_date.isoformat(),
                                       status=op.status or "AUTHORISED",
                                       lines=[_line_payload(li, gp.currency) for li in op.lines],
                                       line_amount_types=op.line_amount_types)

        # 1. drafts: voids and updates; 2. credit notes before rebills (never a moment of double billing)
        self.write(by_op["void_invoice"] + by_op["update_invoice"], invoice_update,
                   lambda ps, k: self.xero.update("Invoices", ps, k), "InvoiceID")
        self.write(by_op["create_credit_note"], new_credit, self.xero.create_credit_notes, "CreditNoteID")
        # a rebill goes out only once every credit note of its group is in: never two bills for the same lines
        waiting = {gp.group_key: op for gp, op in plan.ops if op.op == "create_credit_note"
                   and (self.outcomes.get(op.key) is None or self.outcomes[op.key].outcome != "created")}
        rebills = []
        for gp, op in by_op["create_invoice"]:
            cn = waiting.get(gp.group_key)
            if cn is None:
                rebills.append((gp, op))
                continue
            why = self.outcomes[cn.key].outcome if cn.key in self.outcomes else "not sent"
            self.outcomes[op.key] = Outcome(op.key, "pending" if why == "pending" else "held",
                                            f"waiting for credit note {cn.reference} ({why})")
        self.write(rebills, new_invoice, self.xero.create_invoices, "InvoiceID")
        # 3. allocate new credit notes (and any left over from an earlier run) against their invoices
        allocations = list(by_op["allocate_credit"])
        docs_by_key = {d.key: d for ds in plan.state.docs.values() for d in ds}
        for gp, op in by_op["create_credit_note"]:
            out = self.outcomes.get(op.key)
            orig = docs_by_key.get(op.original_key or "")
            if out is None or out.outcome != "created" or orig is None or orig.status != "AUTHORISED":
                continue
            total = to_minor(Decimal(str(out.document.get("Total") or 0)), gp.currency)
            amount = min(total, orig.amount_due_minor)
            if amount > 0:
                allocations.append((gp, DocOp("allocate_credit", op.key, "credit_note", op.reference, op.revision,
                                              target_id=out.document.get("CreditNoteID"), original_key=orig.key,
                                              original_reference=orig.reference, original_target_id=orig.target_id,
                                              amount_minor=amount)))
        for gp, op in allocations:
            self.allocate(gp, op)
        # 4. kept lines that now stand for other entries (same content): the store follows
        with self.store.engine.begin() as conn:
            for gp in plan.plans:
                for doc_key, li in gp.reattributed:
                    self.lines.reattribute(conn, entity=self.e, doc_key=doc_key, fingerprint=li.fingerprint,
                                           source_entry_ids=li.source_entry_ids)

    def allocate(self, gp: GroupPlan, op: DocOp) -> None:
        amount = from_minor(op.amount_minor, gp.currency)
        idem = _digest_key(f"alloc-{self.e}", [op.key], [{"invoice": op.original_target_id, "amount": amount}])
        try:
            self.xero.allocate_credit_note(str(op.target_id), invoice_id=str(op.original_target_id), amount=amount,
                                           date=self.plan.credit_date.isoformat(), idempotency_key=idem)
        except TransientError as err:
            log.warning("allocation of %s to %s is pending: %s", op.reference, op.original_reference, err)
            return
        except PermanentError as err:
            self.letters.park(entity=self.e, period=self.p, doc_key=f"alloc-{op.key}", kind="allocation",
                              operation="allocate_credit", error=str(err),
                              payload={"credit_note_id": op.target_id, "invoice_id": op.original_target_id,
                                       "amount": amount}, payload_hash=idem, reference=op.reference,
                              group_key=gp.group_key, client_id=gp.client_id, error_detail={"body": err.body},
                              run_id=self.run.run_id, triggered_by=self.run.triggered_by,
                              source_records={"original_reference": op.original_reference})
            return
        self.store.audit(self.run.triggered_by, "allocate_credit", entity=self.e, subject=op.reference,
                         detail={"invoice": op.original_reference, "amount": str(amount), "run_id": self.run.run_id})
        self.letters.resolve(f"alloc-{op.key}", "replayed", f"allocated {amount} in run {self.run.run_id}")


RESULT_COLUMNS = ["entity", "period", "invoice_key", "group_key", "document_kind", "reference", "revision",
                  "client_id", "currency", "outcome", "invoice_id", "invoice_number", "status", "subtotal_minor",
                  "total_tax_minor", "total_minor", "original_reference", "error", "dead_letter_id", "approved_by",
                  "triggered_by", "run_id"]


def _result_rows(plan: Plan, applier: _Applier | None) -> pd.DataFrame:
    outcomes = applier.outcomes if applier else {}
    rows = []
    seen: set[str] = set()
    gp_of: dict[str, GroupPlan] = {}
    op_of: dict[str, DocOp] = {}
    for gp in plan.plans:
        for d in plan.state.docs.get(gp.base_reference, []):
            gp_of[d.key] = gp
        for o in gp.ops:
            gp_of.setdefault(o.key, gp)
            if o.op != "allocate_credit":
                op_of[o.key] = o
    keys = [d.key for ds in plan.state.docs.values() for d in ds] + list(op_of)
    for key in keys:
        if key in seen or key not in gp_of:
            continue
        seen.add(key)
        gp = gp_of[key]
        op = op_of.get(key)
        doc = plan.state.raw.get(key)
        ledger = plan.state.ledger.get(key)
        out = outcomes.get(key)
        if out is not None and out.outcome == "allocated":
            out = None
        if out is not None:
            outcome = out.outcome
            if out.document is not None:
                doc = out.document
        elif op is not None and applier is None:
            outcome = "planned"
        elif doc is None:
            continue  # a document that only the ledger remembers (and the plan does not touch)
        else:
            outcome = "already_posted" if ledger is not None and ledger["status"] in ("posted", "voided") \
                else "found_in_target"
        kind = op.kind if op else next((d.kind for d in plan.state.docs.get(gp.base_reference, []) if d.key == key),
                                       "invoice")
        ccy = gp.currency
        ref = op.reference if op else (doc or {}).get("Reference")
        p = ids.parse_reference(str(ref)) or {}
        orig = op.original_reference if op else None
        if kind == "credit_note" and not orig and ref:
            orig = str(ref).rsplit("-CN", 1)[0]
        rows.append({
            "entity": plan.entity.key, "period": plan.period.key, "invoice_key": key, "group_key": gp.group_key,
            "document_kind": kind, "reference": ref, "revision": p.get("revision"), "client_id": gp.client_id,
            "currency": ccy, "outcome": outcome,
            "invoice_id": (doc or {}).get("CreditNoteID" if kind == "credit_note" else "InvoiceID"),
            "invoice_number": (doc or {}).get("CreditNoteNumber" if kind == "credit_note" else "InvoiceNumber"),
            "status": (doc or {}).get("Status"),
            "subtotal_minor": to_minor(Decimal(str(doc["SubTotal"])), ccy) if doc and "SubTotal" in doc else None,
            "total_tax_minor": to_minor(Decimal(str(doc["TotalTax"])), ccy) if doc and "TotalTax" in doc else None,
            "total_minor": to_minor(Decimal(str(doc["Total"])), ccy) if doc and "Total" in doc else None,
            "original_reference": orig, "error": out.error if out else None,
            "dead_letter_id": out.dead_letter_id if out else plan.held_letters.get(key),
            "approved_by": (applier.approver(op) if applier and op else None) or (ledger or {}).get("approved_by"),
            "triggered_by": applier.run.triggered_by if applier and out else (ledger or {}).get("triggered_by"),
            "run_id": applier.run.run_id if applier and out else (ledger or {}).get("run_id"),
        })
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    if len(df):
        df = df.astype({"revision": "Int64", "subtotal_minor": "Int64", "total_tax_minor": "Int64",
                        "total_minor": "Int64", "dead_letter_id": "Int64"})
    return df.sort_values(["reference", "invoice_key"]).reset_index(drop=True)


@dataclass
class PostingResult:
    plan: Plan
    frame: pd.DataFrame
    api_calls: int
    run: PostingRun | None = None  # as applied: with who approved the plan, when, and its hash

    @property
    def pending(self) -> pd.DataFrame:
        return self.frame[self.frame["outcome"] == "pending"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.frame[self.frame["outcome"] == "failed"]


def apply_plan(plan: Plan, *, xero: XeroClient, store: OperationalStore, run: PostingRun,
               replay: set[int] | None = None, concurrency: int = 2) -> PostingResult:
    """Apply a plan. Raises :class:`PostingBlocked` when the guard says no (unless overridden).

    ``concurrency``: batches of one kind in flight at once (their documents are disjoint, so order does not
    matter within a kind; kinds still go in order: drafts, credit notes, invoices, allocations). Keep it
    within the accounting system's concurrent-request limit (Xero: 5).
    """
    from sync_pipeline.services.approvals import authorize, mark_posted

    approval = authorize(plan, store, run)  # AwaitingApproval: nothing is written
    run = replace(run, approved_by=approval.approved_by, approved_at=approval.approved_at,
                  plan_hash=approval.plan_hash, override_guard=approval.kind == "person",
                  mapping_hash=approval.mapping_hash)
    breaches = plan.breaches
    if breaches and plan.controls.posting_enabled:
        if plan.state.duplicates or not run.override_guard:
            raise PostingBlocked(
                f"posting {plan.entity.key} {plan.period.key} is blocked: " + "; ".join(breaches)
                + ". Review the invoice_plan asset; raise the limits with `sync-pipeline posting limits`, or have "
                  "an approver approve this plan (`sync-pipeline posting approve`).")
        store.audit(str(run.approved_by), "guard_overridden", entity=plan.entity.key, subject=plan.period.key,
                    detail={"breaches": breaches, "run_id": run.run_id, "plan_hash": run.plan_hash})
    applier = _Applier(plan, xero, store, run, replay, concurrency)
    # what the accounting system holds but the ledger did not know: recorded now (crash recovery)
    group_of = {d.key: g for g in plan.plans for d in plan.state.docs.get(g.base_reference, [])}
    found = [d for ds in plan.state.docs.values() for d in ds if d.key in plan.state.raw
             and (plan.state.ledger.get(d.key) is None or plan.state.ledger[d.key]["status"] not in ("posted", "voided"))]
    if found:
        with store.engine.begin() as conn:
            store.record_pending_many(conn, [
                {"invoice_key": d.key, "entity": plan.entity.key, "period": plan.period.key,
                 "client_id": group_of[d.key].client_id, "revision": d.revision, "reference": d.reference,
                 "payload_hash": "", "idempotency_key": "", "triggered_by": run.triggered_by, "kind": d.kind,
                 "group_key": group_of[d.key].group_key, "original_key": d.original_key,
                 "currency": group_of[d.key].currency, "run_id": run.run_id} for d in found])
            store.record_posted_many(conn, [
                {"invoice_key": d.key, "target_id": d.target_id or "", "target_number": d.number,
                 "status": "voided" if d.status in ("VOIDED", "DELETED") else "posted", "target_status": d.status,
                 "subtotal_minor": d.subtotal_minor} for d in found])
            PostedLines(store).record_many(conn, entity=plan.entity.key, period=plan.period.key, docs=[
                {"doc_key": d.key, "kind": d.kind, "reference": d.reference, "currency": group_of[d.key].currency,
                 "lines": [_line_record(li) for li in d.lines] if d.live else []} for d in found])
    applier.apply()
    # documents we know that the accounting system changed (paid, voided by hand): keep the ledger current
    with store.engine.begin() as conn:
        for key, doc in plan.state.raw.items():
            row = plan.state.ledger.get(key)
            if row is not None and row.get("target_status") != doc.get("Status") and key not in applier.outcomes:
                conn.execute(sync_ledger.update().where(sync_ledger.c.invoice_key == key).values(
                    target_status=doc.get("Status")))
    frame = _result_rows(plan, applier)
    mark_posted(store, approval, run.run_id)
    return PostingResult(plan, frame, xero.http.request_count - applier.calls_before, run)


def post_invoices(drafts: pd.DataFrame, *, entity: EntityConfig, period: Period, xero: XeroClient,
                  store: OperationalStore, triggered_by: str, today: date | None = None, run_id: str | None = None,
                  replay: set[int] | None = None) -> pd.DataFrame:
    """Plan and apply in one go (an approved plan only); the posted-invoices frame (one row per document)."""
    plan = build_plan(drafts, entity=entity, period=period, xero=xero, store=store, today=today)
    run = PostingRun(triggered_by, run_id)
    return apply_plan(plan, xero=xero, store=store, run=run, replay=replay).frame


def describe_error(err: BaseException) -> str:
    return str(err) if isinstance(err, HttpError) else f"{type(err).__name__}: {err}"


def plan_drift(plan: Plan, reviewed: pd.DataFrame | None) -> str:
    """How the plan about to be applied differs from the one materialized for review ('' when it does not)."""
    if reviewed is None:
        return "no reviewed plan (invoice_plan not materialized for this partition)"

    def writes(df: pd.DataFrame) -> set[tuple[str, str, int]]:
        w = df[df["op"].notna()]
        return {(str(r.op), str(r.doc_key), int(r.amount_minor)) for r in w.itertuples()}

    now, then = writes(plan_frame(plan)), writes(reviewed)
    if now == then:
        return ""
    parts = []
    if now - then:
        parts.append("new: " + ", ".join(f"{o} {k} ({a})" for o, k, a in sorted(now - then)[:5]))
    if then - now:
        parts.append("no longer needed: " + ", ".join(f"{o} {k} ({a})" for o, k, a in sorted(then - now)[:5]))
    return "; ".join(parts)
