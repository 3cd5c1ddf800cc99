"""Posting one partition outside an asset, and replaying dead letters after a fix.

``PostingEnv`` bundles what posting needs (mapping, warehouse, operational store, a way to open the
accounting client) so the CLI (``sync-pipeline posting run``, ``sync-pipeline dlq replay``) and the
``replay_dead_letters`` Dagster job share one code path with the ``posted_invoices`` asset.

A replay re-plans the letter's partition from the current drafts and the accounting system's current
contents, and releases the selected letters from the hold that automated runs respect. So a fix in
the accounting system (a contact linked, a currency enabled) is picked up as it is, and a fix in the
source or mapping (re-billed) produces the corrected document; a write the plan no longer contains
(the entries went away) closes its letter as superseded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.contracts.mapping import EntityConfig, Mapping
from sync_pipeline.contracts.posting import PostedEntryLink
from sync_pipeline.contracts.warehouse import PostedInvoice
from sync_pipeline.domain.periods import Period
from sync_pipeline.services.posting import (
    PostingResult,
    PostingRun,
    apply_plan,
    build_plan,
    op_content_hash,
    result_rows,
)
from sync_pipeline.services.posting_links import entry_links_frame
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse


@dataclass
class PostingEnv:
    mapping: Mapping
    warehouse: Warehouse
    store: OperationalStore
    target_for: Callable[[EntityConfig], AccountingTarget]


def write_outputs(wh: Warehouse, store: OperationalStore, entity: str, period: str, result: PostingResult) -> None:
    """The warehouse tables posting maintains: posted_invoices and posted_lines."""
    wh.write("posted_invoices", entity, period, result.frame, PostedInvoice)
    wh.write("posted_lines", entity, period, entry_links_frame(store, entity, period), PostedEntryLink)


def post_partition(env: PostingEnv, entity_key: str, period_key: str, run: PostingRun,
                   replay: set[int] | None = None, dry_run: bool = False) -> PostingResult:
    """Plan (and unless ``dry_run``, apply) one partition from its drafts in the warehouse."""
    entity = env.mapping.entity(entity_key)
    period = Period.parse(period_key)
    drafts = env.warehouse.read("invoice_drafts", entity.key, period.key)
    target = env.target_for(entity)
    try:
        plan = build_plan(drafts, entity=entity, period=period, target=target, store=env.store)
        if dry_run:
            return PostingResult(plan, result_rows(plan, None), 0)
        result = apply_plan(plan, target=target, store=env.store, run=run, replay=replay)
    finally:
        target.close()
    write_outputs(env.warehouse, env.store, entity.key, period.key, result)
    return result


@dataclass
class ReplayOutcome:
    letter_id: int
    entity: str
    period: str
    reference: str | None
    before: str
    after: str
    note: str


def replay(env: PostingEnv, run: PostingRun, *, letter_ids: Iterable[int] | None = None,
           entity: str | None = None, period: str | None = None) -> list[ReplayOutcome]:
    """Replay open dead letters (the given ids, or every open one of an entity/period)."""
    letters = DeadLetters(env.store)
    chosen = letters.list(ids=list(letter_ids)) if letter_ids is not None else letters.list(
        entity=entity, period=period, status="open")
    missing = set(letter_ids or []) - {x["id"] for x in chosen}
    if missing:
        raise LookupError(f"no dead letter(s) {', '.join(f'#{i}' for i in sorted(missing))}; "
                          "see `sync-pipeline dlq list --status all`")
    todo = [x for x in chosen if x["status"] == "open"]
    outcomes = [ReplayOutcome(x["id"], x["entity"], x["period"], x["reference"], x["status"], x["status"],
                              "not open: nothing to replay") for x in chosen if x["status"] != "open"]
    partitions = sorted({(x["entity"], x["period"]) for x in todo})
    for e, p in partitions:
        ids = {x["id"] for x in todo if (x["entity"], x["period"]) == (e, p)}
        env.store.audit(run.triggered_by, "dead_letters_replayed", entity=e, subject=p,
                        detail={"letters": sorted(ids), "run_id": run.run_id})
        result = post_partition(env, e, p, run, replay=ids)
        planned = {(o.key, op_content_hash(o)) for _, o in result.plan.ops}
        planned_keys = {k for k, _ in planned}
        for x in todo:
            if x["id"] not in ids:
                continue
            now = letters.get(x["id"]) or x
            note = now.get("resolution") or ""
            if now["status"] == "open" and x["kind"] in ("invoice", "credit_note") and x["doc_key"] not in planned_keys:
                letters.resolve(x["doc_key"], "superseded",
                                f"the plan no longer contains this write (replay in run {run.run_id})")
                now = letters.get(x["id"]) or now
                note = now.get("resolution") or ""
            elif now["status"] == "open":
                note = f"still refused: {now['error']}"
            outcomes.append(ReplayOutcome(x["id"], e, p, x["reference"], "open", now["status"], note))
    return sorted(outcomes, key=lambda o: o.letter_id)


def letter_summary(x: dict[str, Any]) -> dict[str, Any]:
    return {"id": x["id"], "status": x["status"], "entity": x["entity"], "period": x["period"], "kind": x["kind"],
            "operation": x["operation"], "reference": x["reference"], "attempts": len(x["attempts"] or []),
            "error": x["error"], "created_at": x["created_at"], "updated_at": x["updated_at"]}
