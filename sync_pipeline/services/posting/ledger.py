"""What posting records around each write: the intent in the sync ledger before the request, the confirmed
documents (ledger, posted lines and entry links, audit) after it, and the dead letter of a write refused."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.payloads.accounting import Document
from sync_pipeline.domain.invoice_plan import DocOp, GroupPlan
from sync_pipeline.domain.money import to_minor
from sync_pipeline.services.posting.drafts import body, line_record
from sync_pipeline.services.posting.plan import Plan, op_content_hash
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.posted_lines import PostedLines

log = logging.getLogger("sync_pipeline.services.posting")


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


@dataclass
class Outcome:
    doc_key: str
    outcome: str  # created | updated | voided | allocated | failed | held | pending
    error: str | None = None
    dead_letter_id: int | None = None
    document: Document | None = None


class Bookkeeper:
    """The ledger, posted lines, audit trail and dead letters of one plan being applied."""

    def __init__(self, plan: Plan, store: OperationalStore, run: PostingRun) -> None:
        self.plan, self.store, self.run = plan, store, run
        self.letters = DeadLetters(store)
        self.lines = PostedLines(store)
        self.outcomes: dict[str, Outcome] = {}

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
                "payload": dumps({"request": body(payload), "lines": [line_record(li) for li in op.lines]}).decode(),
                "currency": gp.currency,
                "subtotal_minor": op.amount_minor if op.op != "allocate_credit" else None,
                "approved_by": self.approver(op), "run_id": self.run.run_id, "plan_hash": self.run.plan_hash,
                "plan_approved_by": self.run.approved_by, "plan_approved_at": self.run.approved_at,
                "mapping_hash": self.run.mapping_hash}

    def record_pending(self, batch: list[tuple[GroupPlan, DocOp]], payloads: list[Any], idem: str) -> None:
        with self.store.engine.begin() as conn:
            self.store.record_pending_many(conn, [self.pending_row(gp, op, payload, idem)
                                                  for (gp, op), payload in zip(batch, payloads, strict=True)])

    def _posted_parts(self, gp: GroupPlan, op: DocOp, doc: Document) -> tuple[dict, dict, dict]:
        ledger = {"invoice_key": op.key, "target_id": doc.id, "target_number": doc.number,
                  "status": "voided" if op.op == "void_invoice" else "posted", "target_status": doc.status,
                  "subtotal_minor": to_minor(doc.subtotal or Decimal(0), gp.currency)}
        lines = {"doc_key": op.key, "kind": op.kind, "reference": op.reference, "currency": gp.currency,
                 "lines": [] if op.op == "void_invoice" else [
                     {**line_record(li), "plan_approved_by": self.run.approved_by,
                      "plan_approved_at": self.run.approved_at, "plan_hash": self.run.plan_hash} for li in op.lines]}
        audit = {"actor": self.run.triggered_by, "action": op.op, "entity": self.e, "subject": op.reference,
                 "detail": {"doc_key": op.key, "target_id": doc.id, "number": doc.number, "status": doc.status,
                            "run_id": self.run.run_id, "approved_by": self.approver(op),
                            "plan_hash": self.run.plan_hash, "mapping_hash": self.run.mapping_hash,
                            "original_reference": op.original_reference, "amount_minor": op.amount_minor,
                            "source_entries": op.source_entry_ids}}
        return ledger, lines, audit

    def posted_many(self, conn: sa.Connection, done: list[tuple[GroupPlan, DocOp, Document]]) -> None:
        """Record a batch's confirmed documents: ledger, lines and entry links, audit — in one transaction."""
        parts = [self._posted_parts(gp, op, doc) for gp, op, doc in done]
        self.store.record_posted_many(conn, [ledger for ledger, _, _ in parts])
        self.lines.record_many(conn, entity=self.e, period=self.p, docs=[lines for _, lines, _ in parts])
        self.store.audit_many(conn, [audit for _, _, audit in parts])

    def confirm(self, done: list[tuple[GroupPlan, DocOp, Document]]) -> None:
        """Record the confirmed documents, their outcomes, and settle the dead letters they stood for."""
        with self.store.engine.begin() as conn:
            self.posted_many(conn, done)
        held = {x["doc_key"] for x in self.letters.open_for(self.e, self.p)} if done else set()
        for _, op, doc in done:
            kind = {"create_invoice": "created", "create_credit_note": "created", "update_invoice": "updated",
                    "void_invoice": "voided"}[op.op]
            self.outcomes[op.key] = Outcome(op.key, kind, document=doc)
            if op.key in held:
                self.resolve_letters(op, doc)

    def park(self, gp: GroupPlan, op: DocOp, error: str, payload: Any, detail: Any = None) -> None:
        letter = self.letters.park(
            entity=self.e, period=self.p, doc_key=op.key, kind=op.kind, operation=op.op, error=error,
            payload=body(payload), payload_hash=op_content_hash(op), reference=op.reference, group_key=gp.group_key,
            client_id=gp.client_id, error_detail=detail, run_id=self.run.run_id, triggered_by=self.run.triggered_by,
            source_records={"lines": [line_record(li) for li in op.lines], "original_reference": op.original_reference,
                            "client_name": gp.client_name, "currency": gp.currency})
        if op.op in ("create_invoice", "create_credit_note"):
            self.store.record_failed(op.key)
        self.outcomes[op.key] = Outcome(op.key, "failed", error, letter)
        log.error("%s %s parked as dead letter #%d: %s", op.op, op.reference, letter, error)

    def resolve_letters(self, op: DocOp, doc: Document) -> None:
        number = doc.number or doc.id
        status = "replayed" if op.key in self.plan.held_letters else "superseded"
        self.letters.resolve(op.key, status, f"{op.op} succeeded ({number}) in run {self.run.run_id} "
                                             f"triggered by {self.run.triggered_by}")
