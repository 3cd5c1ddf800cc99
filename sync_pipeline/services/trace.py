"""One trail from a time entry to the bank: who did each step, and when.

Start from a time entry (its source id; an expense as ``expense:<id>``), an invoice (its number, our reference or
the accounting system's id) or a bank line (its line id ``account:bank reference``, or the bank reference alone);
:func:`trace` follows the links the pipeline keeps and returns every step of the chain it can find:

    time entry (warehouse raw_time_entries: person, hours, approver)  →  billable (billables: rate in force,
    amount)  →  invoice line (operational store posted_lines / entry_links)  →  invoice (sync_ledger: number,
    who triggered the posting in which run, the four-eyes approval of the plan; warehouse accounting_invoices:
    net, tax, gross as the accounting system holds them; the webhook events received about it, each with the trace
    id the receiver gave it)  →  settlements pulled back (raw_payments)  →  bank line
    and the matching decision (matching log: rule or person, confidence, history).

Only reads: the operational store through its tables, the warehouse through its partitions. A step not yet taken
(an entry held for approval, an invoice unpaid, a bank line matched to nothing) is simply absent from the trail;
an entry that never reached an invoice says why (its disposition in clean_time_entries). People are pseudonyms in the
warehouse (services.pseudonymize): the trail shows them as "Name (source id)" while the person is not erased.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.domain.money import from_minor, quantize
from sync_pipeline.store.approvals import PlanApprovals
from sync_pipeline.store.events import EventStore
from sync_pipeline.store.matching_log import SUPERSEDED, MatchingLog
from sync_pipeline.store.operational import OperationalStore, sync_ledger
from sync_pipeline.store.posted_lines import entry_links, posted_lines
from sync_pipeline.store.protection import PSEUDONYM_PREFIX
from sync_pipeline.store.warehouse import Warehouse

KINDS = ("entry", "invoice", "bank_line")
EXPENSE_PREFIX = "expense:"  # how invoice lines cite an expense among their source entries
_LEDGER_COLS = [c for c in sync_ledger.c if c.name != "payload"]  # the payload is sealed and not needed here


class TraceNotFound(LookupError):
    """Nothing the pipeline knows matches the starting point."""


@dataclass
class Trail:
    """Every step found from one starting point (plain dicts: printable and JSON-ready)."""

    start: dict[str, str]
    entries: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    bank_lines: list[dict[str, Any]] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _money(minor: int | None, currency: str | None) -> str | None:
    if minor is None or pd.isna(minor) or not currency:
        return None
    return str(from_minor(int(minor), currency))


def _amount(value: Any, currency: str | None) -> str | None:
    """An exact value (12 decimals) as the currency shows it: 300.000000000000 GBP → 300.00."""
    return None if value is None or not currency else str(quantize(Decimal(str(value)), currency))


def _clean(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "item"):
        return value.item()
    return value


def _rows(wh: Warehouse, asset: str, entity: str, period: str) -> pd.DataFrame | None:
    return wh.read(asset, entity, period) if wh.exists(asset, entity, period) else None


def _find(df: pd.DataFrame | None, column: str, value: str) -> list[dict[str, Any]]:
    if df is None or df.empty or column not in df.columns:
        return []
    hit = df[df[column].astype(str) == str(value)]
    return [{k: _clean(v) for k, v in r.items()} for r in hit.to_dict("records")]


class Tracer:
    """Follows the links of one operational store and one warehouse."""

    def __init__(self, store: OperationalStore, warehouse: Warehouse) -> None:
        self.store, self.wh = store, warehouse
        self.log = MatchingLog(store)
        self._frames: dict[tuple[str, str, str], pd.DataFrame | None] = {}
        self._people: dict[str, str] = {}

    def who(self, value: Any) -> Any:
        """A person's pseudonym (the warehouse holds no names: services.pseudonymize) as "Name (source id)", the way
        the source wrote it; the pseudonym itself once the person was erased. Other text as it is."""
        if not isinstance(value, str) or not value.startswith(PSEUDONYM_PREFIX):
            return value
        if value not in self._people:
            ident = self.store.protection.identity(value)
            self._people[value] = value + " (erased)" if ident is None else (
                f"{ident['name']} ({ident['source_person_id']})" if ident.get("source_person_id")
                and not str(ident["source_person_id"]).startswith("name:") else str(ident["name"]))
        return self._people[value]

    def frame(self, asset: str, entity: str, period: str) -> pd.DataFrame | None:
        key = (asset, entity, period)
        if key not in self._frames:
            self._frames[key] = _rows(self.wh, asset, entity, period)
        return self._frames[key]

    # -- finding the starting point ---------------------------------------------------------------------
    def ledger_rows(self, invoice: str, entity: str | None = None) -> list[dict[str, Any]]:
        c = sync_ledger.c
        q = sa.select(*_LEDGER_COLS).where(sa.or_(c.target_number == invoice, c.reference == invoice,
                                                  c.target_id == invoice, c.invoice_key == invoice))
        if entity:
            q = q.where(c.entity == entity)
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q.order_by(c.created_at)).mappings()]

    def entry_links(self, entry_id: str, entity: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(entry_links).where(entry_links.c.entry_id == str(entry_id))
        if entity:
            q = q.where(entry_links.c.entity == entity)
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q.order_by(entry_links.c.recorded_at)).mappings()]

    def bank_decisions(self, line: str, entity: str | None = None) -> list[dict[str, Any]]:
        found = self.log.by_line(line)
        if not found:  # the bank's reference alone: the line id is ``account:reference``
            from sync_pipeline.store.matching_log import cash_decisions

            with self.store.engine.connect() as conn:
                ids = sorted({r.line_id for r in conn.execute(sa.select(cash_decisions.c.line_id).where(
                    cash_decisions.c.line_id.like(f"%:{line}")))})
            found = [d for lid in ids for d in self.log.by_line(lid)]
        return [d for d in found if not entity or d["entity"] == entity]

    # -- the steps --------------------------------------------------------------------------------------
    def entry(self, entity: str, entry_id: str, period: str | None) -> dict[str, Any]:
        """The time entry as the source said it (person, hours, approval) and the billable it became; an expense
        (``expense:<id>``, as invoice lines cite it) the same way from the expense tables."""
        if str(entry_id).startswith(EXPENSE_PREFIX):
            return self.expense(entity, str(entry_id), period)
        periods = [period] if period else self.wh.periods("clean_time_entries", entity)
        for p in periods:
            raw = _find(self.frame("raw_time_entries", entity, p), "entry_id", entry_id)
            clean = _find(self.frame("clean_time_entries", entity, p), "entry_id", entry_id)
            if not raw and not clean:
                continue
            r, cl = (raw or [{}])[0], (clean or [{}])[0]
            billable = (_find(self.frame("billables", entity, p), "entry_id", entry_id) or [None])[0]
            return {
                "entity": entity, "period": p, "entry_id": str(entry_id), "source": r.get("source"),
                "person": self.who(r.get("user_name") or cl.get("user_name")), "date": r.get("spent_date"),
                "hours": r.get("hours"), "client": r.get("client_name"), "project": r.get("project_name"),
                "task": r.get("task_name"), "notes": r.get("notes"), "approval_status": r.get("approval_status"),
                "approved_by": self.who(r.get("approved_by") or cl.get("approved_by")),
                "approved_at": r.get("approved_at") or cl.get("approved_at"),
                "disposition": cl.get("disposition"), "reason": cl.get("reason"),
                "billable": None if billable is None else {
                    "hours": billable.get("hours"), "rate": billable.get("rate"),
                    "list_rate": billable.get("list_rate"), "rate_source": billable.get("rate_source"),
                    "value": _amount(billable.get("value"), billable.get("currency")),
                    "currency": billable.get("currency"),
                    "invoice_currency": billable.get("invoice_currency"), "invoice_key": billable.get("invoice_key")},
            }
        return {"entity": entity, "period": period, "entry_id": str(entry_id), "missing": True}

    def expense(self, entity: str, entry_id: str, period: str | None) -> dict[str, Any]:
        """An expense as the source said it (who spent what on which category, approval) and its marked-up line."""
        expense_id = entry_id.removeprefix(EXPENSE_PREFIX)
        periods = [period] if period else self.wh.periods("clean_expenses", entity)
        for p in periods:
            raw = _find(self.frame("raw_expenses", entity, p), "expense_id", expense_id)
            clean = _find(self.frame("clean_expenses", entity, p), "expense_id", expense_id)
            if not raw and not clean:
                continue
            r, cl = (raw or [{}])[0], (clean or [{}])[0]
            billable = (_find(self.frame("expense_billables", entity, p), "expense_id", expense_id) or [None])[0]
            return {
                "kind": "expense", "entity": entity, "period": p, "entry_id": entry_id, "source": r.get("source"),
                "person": self.who(r.get("user_name") or cl.get("user_name")),
                "date": r.get("spent_date") or cl.get("spent_date"), "category": r.get("category"),
                "cost": r.get("total_cost"), "units": r.get("units"), "client": r.get("client_name"),
                "project": r.get("project_name"), "notes": r.get("notes"), "receipt_url": r.get("receipt_url"),
                "approval_status": r.get("approval_status"),
                "approved_by": self.who(r.get("approved_by") or cl.get("approved_by")),
                "approved_at": r.get("approved_at") or cl.get("approved_at"),
                "disposition": cl.get("disposition"), "reason": cl.get("reason"),
                "billable": None if billable is None else {
                    "cost": billable.get("total_cost"), "markup_percent": billable.get("markup_percent"),
                    "markup_source": billable.get("markup_source"), "refund": billable.get("refund"),
                    "value": _amount(billable.get("value"), billable.get("currency")),
                    "currency": billable.get("currency"), "invoice_currency": billable.get("invoice_currency"),
                    "invoice_key": billable.get("invoice_key")},
            }
        return {"kind": "expense", "entity": entity, "period": period, "entry_id": entry_id, "missing": True}

    def invoice(self, led: dict[str, Any], entry_ids: set[str] | None = None) -> dict[str, Any]:
        """An invoice (or credit note) from the ledger, its lines, the plan's approval, what the accounting system
        holds and the settlements pulled back."""
        entity, period, cur = led["entity"], led["period"], led["currency"]
        with self.store.engine.connect() as conn:
            lines = [dict(r) for r in conn.execute(sa.select(posted_lines).where(
                posted_lines.c.doc_key == led["invoice_key"]).order_by(posted_lines.c.line_no)).mappings()]
        if entry_ids is not None:
            lines = [li for li in lines if entry_ids & set(li["source_entry_ids"].split(","))]
        plan = next((p for p in PlanApprovals(self.store).plans(entity, period)
                     if led.get("plan_hash") and p.plan_hash == led["plan_hash"]), None)
        held = (_find(self.frame("accounting_invoices", entity, period), "document_id", led["target_id"]) or [{}])[0] \
            if led.get("target_id") else {}
        payments = _find(self.frame("raw_payments", entity, period), "document_id", led["target_id"]) \
            if led.get("target_id") else []
        changes = EventStore(self.store).for_resource(led["target_id"]) if led.get("target_id") else []
        return {
            "entity": entity, "period": period, "kind": led["kind"], "number": led["target_number"],
            "reference": led["reference"], "target_id": led["target_id"], "status": led["status"],
            "target_status": held.get("status") or led.get("target_status"), "currency": cur,
            "date": held.get("date"), "due_date": held.get("due_date"),
            "net": _money(held.get("subtotal_minor", led.get("subtotal_minor")), cur),
            "tax": _money(held.get("total_tax_minor"), cur), "gross": _money(held.get("total_minor"), cur),
            "paid": _money(held.get("amount_paid_minor"), cur), "due": _money(held.get("amount_due_minor"), cur),
            "posted_by": led["triggered_by"], "posted_at": led["created_at"], "run_id": led["run_id"],
            "trace_id": led.get("trace_id"),
            "plan_hash": led.get("plan_hash"),
            "plan_created_by": plan.created_by if plan else None,
            "four_eyes_approver": led.get("plan_approved_by"), "four_eyes_approved_at": led.get("plan_approved_at"),
            "lines": [{"line_no": li["line_no"], "description": li["description"], "quantity": li["quantity"],
                       "unit_amount": li["unit_amount"], "amount": _money(li["amount_minor"], li["currency"]),
                       "currency": li["currency"], "entries": li["source_entry_ids"].split(","),
                       "approved_by": self.who(li["approved_by"]), "approved_at": li["approved_at"]}
                      for li in lines],
            "payments": [{"kind": p.get("kind"), "id": p.get("source_id"), "date": p.get("date"),
                          "amount": _money(p.get("amount_minor"), p.get("currency")), "currency": p.get("currency"),
                          "status": p.get("status"), "reference": p.get("payment_reference")} for p in payments],
            "changes_received": [{"source": c.source, "event": f"{c.category} {c.event_type}", "at": c.event_at,
                                  "received_at": c.received_at, "deliveries": c.deliveries, "trace_id": c.trace_id}
                                 for c in changes],
        }

    def bank_line(self, d: dict[str, Any]) -> dict[str, Any]:
        """A bank line and the decision taken on it, with its history (who decided, who settled, when)."""
        return {
            "line_id": d["line_id"], "entity": d["entity"], "date": d["line_date"], "account": d["account"],
            "amount": _money(d["line_amount_minor"], d["line_currency"]), "currency": d["line_currency"],
            "payer": d.get("payer_name"), "description": d.get("description"),
            "decision_id": d["decision_id"], "outcome": d["outcome"], "rule": d["rule"], "model": d.get("model"),
            "confidence": d["confidence"], "status": d["status"], "decided_by": d["decided_by"],
            "decided_at": d["decided_at"], "run_id": d.get("run_id"), "trace_id": d.get("trace_id"),
            "reason": d.get("reason"),
            "allocations": [{"invoice_id": a["invoice_id"], "invoice_number": a["invoice_number"],
                             "applied": _money(a["applied_minor"], a["currency"]), "currency": a["currency"],
                             "payment_id": a["target_payment_id"]} for a in d["allocations"]],
            "history": [{"at": e["at"], "actor": e["actor"], "action": e["action"], "text": e.get("text")}
                        for e in self.log.history(d["decision_id"])],
        }


def _detect(t: Tracer, ref: str, entity: str | None) -> str:
    if t.ledger_rows(ref, entity):
        return "invoice"
    if t.bank_decisions(ref, entity):
        return "bank_line"
    return "entry"


def trace(store: OperationalStore, warehouse: Warehouse, ref: str, *, kind: str | None = None,
          entity: str | None = None) -> Trail:
    """The trail from ``ref`` (a time entry id, an invoice number/reference/id or a bank line); ``kind`` one of
    :data:`KINDS` (guessed when None: an invoice first, then a bank line, else a time entry)."""
    t = Tracer(store, warehouse)
    kind = kind or _detect(t, ref, entity)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    trail = Trail(start={"kind": kind, "ref": ref})
    ledgers: list[dict[str, Any]] = []
    only_entries: set[str] | None = None
    decisions: list[dict[str, Any]] = []
    if kind == "entry":
        links = t.entry_links(ref, entity)
        ents = {lk["entity"] for lk in links} or ({entity} if entity else set())
        if not ents:
            raise TraceNotFound(f"time entry {ref} is on no document: give --entity to see why it was not billed")
        only_entries = {str(ref)}
        trail.entries = [t.entry(e, ref, next((lk["period"] for lk in links if lk["entity"] == e), None))
                         for e in sorted(ents)]
        if all(e.get("missing") for e in trail.entries) and not links:
            raise TraceNotFound(f"no time entry {ref} in {', '.join(sorted(ents))}: check the id and the entity")
        seen = set()
        for lk in links:
            if lk["doc_key"] not in seen:
                seen.add(lk["doc_key"])
                ledgers += t.ledger_rows(lk["doc_key"])
    elif kind == "invoice":
        ledgers = t.ledger_rows(ref, entity)
        if not ledgers:
            raise TraceNotFound(f"no invoice or credit note {ref!r} in the sync ledger: give its number (INV-…), "
                                "our reference (SP-…) or the accounting system's id")
    else:
        decisions = t.bank_decisions(ref, entity)
        if not decisions:
            raise TraceNotFound(f"no bank line {ref!r} in the matching log: give its line id (account:reference) "
                                "or the bank's reference, after the cash reconciliation ran")
        ids = {a["invoice_id"] for d in decisions if d["status"] != SUPERSEDED for a in d["allocations"]}
        ledgers = [row for i in sorted(ids) for row in t.ledger_rows(i)]
    trail.invoices = [t.invoice(led, only_entries) for led in ledgers]
    if kind != "entry":
        wanted = sorted({(inv["entity"], inv["period"], e) for inv in trail.invoices for li in inv["lines"]
                         for e in li["entries"]})
        trail.entries = [t.entry(ent, e, p) for ent, p, e in wanted]
    if kind != "bank_line":
        decisions = [d for inv in trail.invoices if inv["target_id"] for d in t.log.by_invoice(inv["target_id"])]
    live = [d for d in decisions if d["status"] != SUPERSEDED] or decisions
    trail.bank_lines = [t.bank_line(d) for d in {d["decision_id"]: d for d in live}.values()]
    runs = [inv["run_id"] for inv in trail.invoices] + [b["run_id"] for b in trail.bank_lines]
    trail.run_ids = list(dict.fromkeys(r for r in runs if r))
    traced = [inv["trace_id"] for inv in trail.invoices] + [c["trace_id"] for inv in trail.invoices
                                                             for c in inv["changes_received"]] \
        + [b["trace_id"] for b in trail.bank_lines]
    trail.trace_ids = list(dict.fromkeys(t for t in traced if t))
    return trail
