"""The posted-invoices frame: one row per document of the partition, with what this run did to it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from sync_pipeline.contracts.payloads.accounting import Document
from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import DocOp, GroupPlan
from sync_pipeline.domain.money import to_minor
from sync_pipeline.services.posting.ledger import Bookkeeper, Outcome, PostingRun
from sync_pipeline.services.posting.plan import Plan

RESULT_COLUMNS = ["entity", "period", "invoice_key", "group_key", "document_kind", "reference", "revision",
                  "client_id", "currency", "outcome", "invoice_id", "invoice_number", "status", "subtotal_minor",
                  "total_tax_minor", "total_minor", "original_reference", "error", "dead_letter_id", "approved_by",
                  "triggered_by", "run_id"]


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


def _minor(v: Decimal | None, ccy: str) -> int | None:
    return to_minor(v, ccy) if v is not None else None


def _index(plan: Plan) -> tuple[dict[str, GroupPlan], dict[str, DocOp], list[str]]:
    """Per document key: its group and its planned write; every key, documents held first."""
    gp_of: dict[str, GroupPlan] = {}
    op_of: dict[str, DocOp] = {}
    for gp in plan.plans:
        for d in plan.state.docs.get(gp.base_reference, []):
            gp_of[d.key] = gp
        for o in gp.ops:
            gp_of.setdefault(o.key, gp)
            if o.op != "allocate_credit":
                op_of[o.key] = o
    return gp_of, op_of, [d.key for ds in plan.state.docs.values() for d in ds] + list(op_of)


def _outcome(plan: Plan, key: str, op: DocOp | None, out: Outcome | None, applied: bool
             ) -> tuple[str, Document | None] | None:
    doc = plan.state.target_docs.get(key)
    if out is not None:
        return out.outcome, out.document if out.document is not None else doc
    if op is not None and not applied:
        return "planned", doc
    if doc is None:
        return None  # a document that only the ledger remembers (and the plan does not touch)
    ledger = plan.state.ledger.get(key)
    return ("already_posted" if ledger is not None and ledger["status"] in ("posted", "voided")
            else "found_in_target"), doc


def _row(plan: Plan, key: str, gp: GroupPlan, op: DocOp | None, outcome: str, doc: Document | None,
         out: Outcome | None, books: Bookkeeper | None) -> dict:
    ledger = plan.state.ledger.get(key) or {}
    kind = op.kind if op else next((d.kind for d in plan.state.docs.get(gp.base_reference, []) if d.key == key),
                                   "invoice")
    ref = op.reference if op else (doc.reference if doc else None)
    orig = op.original_reference if op else None
    if kind == "credit_note" and not orig and ref:
        orig = str(ref).rsplit("-CN", 1)[0]
    ccy = gp.currency
    return {
        "entity": plan.entity.key, "period": plan.period.key, "invoice_key": key, "group_key": gp.group_key,
        "document_kind": kind, "reference": ref, "revision": (ids.parse_reference(str(ref)) or {}).get("revision"),
        "client_id": gp.client_id, "currency": ccy, "outcome": outcome, "invoice_id": doc.id if doc else None,
        "invoice_number": doc.number if doc else None, "status": doc.status if doc else None,
        "subtotal_minor": _minor(doc.subtotal, ccy) if doc else None,
        "total_tax_minor": _minor(doc.total_tax, ccy) if doc else None,
        "total_minor": _minor(doc.total, ccy) if doc else None,
        "original_reference": orig, "error": out.error if out else None,
        "dead_letter_id": out.dead_letter_id if out else plan.held_letters.get(key),
        "approved_by": (books.approver(op) if books and op else None) or ledger.get("approved_by"),
        "triggered_by": books.run.triggered_by if books and out else ledger.get("triggered_by"),
        "run_id": books.run.run_id if books and out else ledger.get("run_id"),
    }


def result_rows(plan: Plan, books: Bookkeeper | None) -> pd.DataFrame:
    """The frame of a plan (``books`` None: not applied, its writes ``planned``) or of a plan applied."""
    outcomes = books.outcomes if books else {}
    gp_of, op_of, keys = _index(plan)
    rows, seen = [], set()
    for key in keys:
        if key in seen or key not in gp_of:
            continue
        seen.add(key)
        op, out = op_of.get(key), outcomes.get(key)
        if out is not None and out.outcome == "allocated":
            out = None
        got = _outcome(plan, key, op, out, applied=books is not None)
        if got is not None:
            rows.append(_row(plan, key, gp_of[key], op, got[0], got[1], out, books))
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    if len(df):
        df = df.astype({"revision": "Int64", "subtotal_minor": "Int64", "total_tax_minor": "Int64",
                        "total_minor": "Int64", "dead_letter_id": "Int64"})
    return df.sort_values(["reference", "invoice_key"]).reset_index(drop=True)
