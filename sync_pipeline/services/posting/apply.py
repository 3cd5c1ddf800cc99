"""Applying a plan exactly once: approval and guard first, then contacts, voids and draft updates, credit notes,
new invoices and rebills (batches of the target's size), credit allocations — each write recorded before and
after it is sent (``ledger``), each refusal parked as a dead letter."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from pydantic import ValidationError

from sync_pipeline.connectors.accounting import AccountingTarget, PostResult
from sync_pipeline.connectors.http import HttpError, PermanentError, TransientError
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.domain.invoice_plan import DocOp, GroupPlan
from sync_pipeline.domain.money import from_minor, to_minor
from sync_pipeline.domain.periods import Period
from sync_pipeline.services.posting import drafts
from sync_pipeline.services.posting.contacts import Contacts
from sync_pipeline.services.posting.ledger import Bookkeeper, Outcome, PostingRun
from sync_pipeline.services.posting.plan import Plan, build_plan
from sync_pipeline.services.posting.results import PostingResult, result_rows
from sync_pipeline.services.posting.state import PostingBlocked
from sync_pipeline.store.operational import OperationalStore, sync_ledger

log = logging.getLogger("sync_pipeline.services.posting")

Batch = list[tuple[GroupPlan, DocOp]]
Send = Callable[[Sequence[Any], str], list[PostResult]]
CREATES = ("create_invoice", "create_credit_note")


class Applier:
    def __init__(self, plan: Plan, target: AccountingTarget, books: Bookkeeper, replay: set[int] | None,
                 concurrency: int = 1) -> None:
        self.plan, self.target, self.books = plan, target, books
        self.concurrency = max(1, min(concurrency, target.capabilities.max_concurrency))
        self.replay = replay or set()
        self.contacts = Contacts(plan, target, books)

    @property
    def outcomes(self) -> dict[str, Outcome]:
        return self.books.outcomes

    # -- one kind of write, in batches --------------------------------------------------------
    def write(self, ops: Batch, build: Callable[[GroupPlan, DocOp], Any], send: Send) -> None:
        """Send ``ops`` in the target's batches, up to ``concurrency`` batches in flight (disjoint documents)."""
        size = self.target.capabilities.max_batch
        batches = [ops[i:i + size] for i in range(0, len(ops), size)]
        if self.concurrency <= 1 or len(batches) <= 1:
            for batch in batches:
                self.write_batch(batch, build, send)
            return
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="posting") as pool:
            for f in [pool.submit(self.write_batch, b, build, send) for b in batches]:
                f.result()

    def built(self, batch: Batch, build: Callable[[GroupPlan, DocOp], Any]) -> tuple[Batch, list[Any]]:
        """Each write's neutral document; one the contract refuses is parked alone with the reason, never sent."""
        kept, payloads = [], []
        for gp, op in batch:
            try:
                payloads.append(build(gp, op))
            except ValidationError as err:
                self.books.park(gp, op, f"not sent: the document breaks its contract: {err}", None,
                                {"validation_errors": [e["msg"] for e in err.errors()]})
                continue
            kept.append((gp, op))
        return kept, payloads

    def write_batch(self, batch: Batch, build: Callable[[GroupPlan, DocOp], Any], send: Send) -> None:
        batch, payloads = self.built(batch, build)
        if not batch:
            return
        idem = drafts.digest_key(f"{batch[0][1].op}-{self.books.e}", [op.key for _, op in batch], payloads)
        self.books.record_pending(batch, payloads, idem)
        try:
            results = send(payloads, idem)
        except TransientError as err:
            for _, op in batch:
                self.outcomes[op.key] = Outcome(op.key, "pending", str(err))
            return
        except PermanentError as err:
            for (gp, op), payload in zip(batch, payloads, strict=True):
                self.books.park(gp, op, str(err), payload, {"status": err.status, "body": err.body})
            return
        if len(results) != len(batch):
            for _, op in batch:
                self.outcomes[op.key] = Outcome(op.key, "pending", f"the target answered {len(results)} "
                                                                   f"items for {len(batch)} sent")
            return
        done = []
        for (gp, op), payload, r in zip(batch, payloads, results, strict=True):
            if not r.ok or r.document is None:
                if r.contact_unknown:
                    self.contacts.forget(gp.client_id)  # the mapped contact is gone: re-resolve on replay
                msg = "; ".join(r.errors) or "the target returned no document id"
                self.books.park(gp, op, msg, payload, {"validation_errors": r.errors})
                continue
            done.append((gp, op, r.document))
        self.books.confirm(done)

    # -- the whole plan -----------------------------------------------------------------------
    def todo(self) -> Batch:
        """The plan's writes, less those held back (unless their dead letter is being replayed)."""
        plan, out = self.plan, []
        for gp, op in plan.ops:
            letter = plan.held_letters.get(op.key)
            if op.key in plan.held and not (letter is not None and letter in self.replay
                                            and plan.controls.posting_enabled):
                self.outcomes[op.key] = Outcome(op.key, "held", plan.held[op.key], letter)
                continue
            out.append((gp, op))
        return out

    def addressed(self, todo: Batch) -> dict[str, Batch]:
        """Contacts first, for every document we create; a document without one is parked. By operation."""
        needed = {gp.client_id: (gp.client_name, gp.currency, gp) for gp, op in todo
                  if op.op in CREATES and gp.group_key not in self.contacts.by_group}
        if needed:
            self.contacts.ensure(needed)
        by_op: dict[str, Batch] = defaultdict(list)
        for gp, op in todo:
            if op.op in CREATES and self.contacts.for_group(gp) is None:
                msg, letter = self.contacts.errors.get(gp.client_id, ("no contact for the client", None))
                self.books.park(gp, op, f"blocked: {msg}", None, {"contact_dead_letter": letter})
                continue
            by_op[op.op].append((gp, op))
        return by_op

    def terms(self, gp: GroupPlan) -> timedelta:
        """The client's payment terms, else the entity's."""
        entity = self.plan.entity
        client = entity.client(gp.client_id)
        days = client.payment_terms_days if client else None
        return timedelta(days=entity.payment_terms_days if days is None else days)

    def new_invoice(self, gp: GroupPlan, op: DocOp) -> Any:
        plan = self.plan
        on = plan.invoice_date if op.revision == 1 else max(plan.invoice_date, plan.credit_date)
        return drafts.new_invoice(gp, op, contact_id=str(self.contacts.for_group(gp)), on=on, terms=self.terms(gp),
                                  status=plan.new_status)

    def new_credit(self, gp: GroupPlan, op: DocOp) -> Any:
        return drafts.new_credit_note(gp, op, contact_id=str(self.contacts.for_group(gp)), on=self.plan.credit_date)

    def rebills(self, creates: Batch) -> Batch:
        """A rebill goes out only once every credit note of its group is in: never two bills for the same lines."""
        waiting = {gp.group_key: op for gp, op in self.plan.ops if op.op == "create_credit_note"
                   and (self.outcomes.get(op.key) is None or self.outcomes[op.key].outcome != "created")}
        ready = []
        for gp, op in creates:
            cn = waiting.get(gp.group_key)
            if cn is None:
                ready.append((gp, op))
                continue
            why = self.outcomes[cn.key].outcome if cn.key in self.outcomes else "not sent"
            self.outcomes[op.key] = Outcome(op.key, "pending" if why == "pending" else "held",
                                            f"waiting for credit note {cn.reference} ({why})")
        return ready

    def apply(self) -> None:
        t = self.target
        by_op = self.addressed(self.todo())
        # 1. drafts: voids and updates; 2. credit notes before rebills (never a moment of double billing)
        self.write(by_op["void_invoice"] + by_op["update_invoice"], drafts.invoice_update,
                   lambda ds, k: t.update("invoice", ds, idempotency_key=k))
        self.write(by_op["create_credit_note"], self.new_credit,
                   lambda ds, k: t.create("credit_note", ds, idempotency_key=k))
        self.write(self.rebills(by_op["create_invoice"]), self.new_invoice,
                   lambda ds, k: t.create("invoice", ds, idempotency_key=k))
        # 3. allocate new credit notes (and any left over from an earlier run) against their invoices
        for gp, op in list(by_op["allocate_credit"]) + self.new_allocations(by_op["create_credit_note"]):
            self.allocate(gp, op)
        self.reattribute()

    def new_allocations(self, credits: Batch) -> Batch:
        docs_by_key = {d.key: d for ds in self.plan.state.docs.values() for d in ds}
        out = []
        for gp, op in credits:
            done = self.outcomes.get(op.key)
            orig = docs_by_key.get(op.original_key or "")
            if done is None or done.outcome != "created" or done.document is None or orig is None \
                    or orig.status != "AUTHORISED":
                continue
            amount = min(to_minor(done.document.total or Decimal(0), gp.currency), orig.amount_due_minor)
            if amount > 0:
                out.append((gp, DocOp("allocate_credit", op.key, "credit_note", op.reference, op.revision,
                                      target_id=done.document.id, original_key=orig.key,
                                      original_reference=orig.reference, original_target_id=orig.target_id,
                                      amount_minor=amount)))
        return out

    def reattribute(self) -> None:
        """Kept lines that now stand for other entries (same content): the store follows."""
        with self.books.store.engine.begin() as conn:
            for gp in self.plan.plans:
                for doc_key, li in gp.reattributed:
                    self.books.lines.reattribute(conn, entity=self.books.e, doc_key=doc_key,
                                                 fingerprint=li.fingerprint, source_entry_ids=li.source_entry_ids)

    def allocate(self, gp: GroupPlan, op: DocOp) -> None:
        b = self.books
        amount = from_minor(op.amount_minor, gp.currency)
        idem = drafts.digest_key(f"alloc-{b.e}", [op.key], [{"invoice": op.original_target_id, "amount": amount}])
        try:
            self.target.allocate_credit(str(op.target_id), invoice_id=str(op.original_target_id), amount=amount,
                                        on=self.plan.credit_date, idempotency_key=idem)
        except TransientError as err:
            log.warning("allocation of %s to %s is pending: %s", op.reference, op.original_reference, err)
            return
        except PermanentError as err:
            b.letters.park(entity=b.e, period=b.p, doc_key=f"alloc-{op.key}", kind="allocation",
                           operation="allocate_credit", error=str(err),
                           payload={"credit_note_id": op.target_id, "invoice_id": op.original_target_id,
                                    "amount": amount}, payload_hash=idem, reference=op.reference,
                           group_key=gp.group_key, client_id=gp.client_id, error_detail={"body": err.body},
                           run_id=b.run.run_id, triggered_by=b.run.triggered_by,
                           source_records={"original_reference": op.original_reference})
            return
        b.store.audit(b.run.triggered_by, "allocate_credit", entity=b.e, subject=op.reference,
                      detail={"invoice": op.original_reference, "amount": str(amount), "run_id": b.run.run_id})
        b.letters.resolve(f"alloc-{op.key}", "replayed", f"allocated {amount} in run {b.run.run_id}")


def _authorize(plan: Plan, store: OperationalStore, run: PostingRun) -> tuple[Any, PostingRun]:
    """The plan's approval (``AwaitingApproval``: nothing is written) and the guard: over its limits, only a
    person's approval lets the plan post, never with duplicates in the target."""
    from sync_pipeline.services.approvals import authorize  # approvals reads plans: imported when applying

    approval = authorize(plan, store, run)
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
    return approval, run


def record_found(plan: Plan, books: Bookkeeper) -> None:
    """What the accounting system holds but the ledger did not know: recorded now (crash recovery)."""
    store, run, state = books.store, books.run, plan.state
    group_of = {d.key: g for g in plan.plans for d in state.docs.get(g.base_reference, [])}
    found = [d for ds in state.docs.values() for d in ds if d.key in state.target_docs
             and (state.ledger.get(d.key) is None or state.ledger[d.key]["status"] not in ("posted", "voided"))]
    if not found:
        return
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
        books.lines.record_many(conn, entity=plan.entity.key, period=plan.period.key, docs=[
            {"doc_key": d.key, "kind": d.kind, "reference": d.reference, "currency": group_of[d.key].currency,
             "lines": [drafts.line_record(li) for li in d.lines] if d.live else []} for d in found])


def follow_target_status(plan: Plan, books: Bookkeeper) -> None:
    """Documents we know that the accounting system changed (paid, voided by hand): keep the ledger current."""
    with books.store.engine.begin() as conn:
        for key, doc in plan.state.target_docs.items():
            row = plan.state.ledger.get(key)
            if row is not None and row.get("target_status") != doc.status and key not in books.outcomes:
                conn.execute(sync_ledger.update().where(sync_ledger.c.invoice_key == key).values(
                    target_status=doc.status))


def apply_plan(plan: Plan, *, target: AccountingTarget, store: OperationalStore, run: PostingRun,
               replay: set[int] | None = None, concurrency: int = 2) -> PostingResult:
    """Apply a plan. Raises :class:`PostingBlocked` when the guard says no (unless overridden).

    ``concurrency``: batches of one kind in flight at once (their documents are disjoint, so order does not
    matter within a kind; kinds still go in order: drafts, credit notes, invoices, allocations); never more than
    the target's concurrent-request limit (``capabilities.max_concurrency``).
    """
    from sync_pipeline.services.approvals import mark_posted

    approval, run = _authorize(plan, store, run)
    calls_before = target.usage().requests
    books = Bookkeeper(plan, store, run)
    applier = Applier(plan, target, books, replay, concurrency)
    record_found(plan, books)
    applier.apply()
    follow_target_status(plan, books)
    frame = result_rows(plan, books)
    mark_posted(store, approval, run.run_id)
    return PostingResult(plan, frame, target.usage().requests - calls_before, run)


def post_invoices(drafts_: pd.DataFrame, *, entity: EntityConfig, period: Period, target: AccountingTarget,
                  store: OperationalStore, triggered_by: str, today: date | None = None, run_id: str | None = None,
                  replay: set[int] | None = None) -> pd.DataFrame:
    """Plan and apply in one go (an approved plan only); the posted-invoices frame (one row per document)."""
    plan = build_plan(drafts_, entity=entity, period=period, target=target, store=store, today=today)
    return apply_plan(plan, target=target, store=store, run=PostingRun(triggered_by, run_id), replay=replay).frame


def describe_error(err: BaseException) -> str:
    return str(err) if isinstance(err, HttpError) else f"{type(err).__name__}: {err}"
