"""Four eyes on money: a plan posts only when someone other than its trigger approved its exact content.

The plan's content — entity, period, every document it writes with its lines, and the totals per
currency — is hashed (SHA-256 of its canonical JSON; dates are left out, so the same writes planned
tomorrow are the same plan). ``authorize`` runs before ``apply_plan`` writes anything, whoever
launched the run (CLI, schedule, sensor, a backfill in the Dagster UI):

1. a plan with no writes needs no approval;
2. a stored plan with this hash approved (or already posted) — or one whose writes include all of
   this plan's writes (what a partial run or a dead-letter replay leaves) and which showed the same
   guard findings — authorizes it;
3. else the entity's active auto-approval policy (approved by a second admin) authorizes plans within
   its document count and gross amount per currency, when the plan guard has nothing to say;
0. first, the entity's mapping: a money-moving mapping version nobody accepted posts nothing
   (``store.mapping_versions``);
4. else the plan is stored as *awaiting approval* and :class:`AwaitingApproval` stops the run:
   nothing is written. An approver who did not trigger it approves with
   ``sync-pipeline posting approve --entity E --period P --plan-hash H``; a plan that changed after
   approval has another hash, and waits again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sync_pipeline.domain.invoice_plan import Limits, breaches_of
from sync_pipeline.services.posting import Plan, PostingBlocked, PostingRun, op_content_hash
from sync_pipeline.store.approvals import PlanApprovals, StoredPlan
from sync_pipeline.store.mapping_versions import MappingVersions, diff, mapping_hash
from sync_pipeline.store.operational import OperationalStore


class AwaitingApproval(PostingBlocked):
    """The plan has writes nobody approved (or it was rejected): nothing was posted."""

    def __init__(self, message: str, plan: StoredPlan | None = None) -> None:
        super().__init__(message)
        self.plan = plan


@dataclass(frozen=True)
class Approval:
    """What authorizes a plan's writes: who approved which plan hash, when, and how."""

    plan_hash: str
    approved_by: str | None  # None: the plan writes nothing
    approved_at: str | None
    kind: str  # none | person | policy
    plan_id: int | None = None
    mapping_hash: str | None = None  # the entity's accepted money-moving mapping version

    @property
    def label(self) -> str | None:
        return f"{self.approved_by} at {self.approved_at} (plan {self.plan_hash[:12]})" if self.approved_by else None


def _line(li: Any) -> dict[str, Any]:
    return {"description": li.description, "quantity": str(li.quantity), "unit_amount": str(li.unit_amount),
            "amount_minor": li.amount_minor, "account_code": li.account_code, "tax_type": li.tax_type,
            "item_code": li.item_code, "tracking": [list(t) for t in li.tracking],
            "tax_amount_minor": li.tax_amount_minor, "source_entry_ids": list(li.source_entry_ids)}


def plan_content(plan: Plan) -> dict[str, Any]:
    """What an approver approves: entity, period, every document written with its lines, totals per currency,
    the guard's findings and the mapping version the amounts come from."""
    documents = [{"op": op.op, "key": op.key, "kind": op.kind, "reference": op.reference, "revision": op.revision,
                  "client_id": gp.client_id, "client_name": gp.client_name, "currency": gp.currency,
                  "status_after": op.status, "target_id": op.target_id, "original_reference": op.original_reference,
                  "amount_minor": op.amount_minor, "delta_minor": op.delta_minor,
                  "line_amount_types": op.line_amount_types, "lines": [_line(li) for li in op.lines]}
                 for gp, op in plan.ops]
    return {"entity": plan.entity.key, "period": plan.period.key, "documents": documents,
            "totals_minor": {ccy: dict(sorted(t.items())) for ccy, t in sorted(plan_totals_minor(plan).items())},
            "guard_breaches": plan.breaches,  # an approval of a plan over the limits is an approval past them
            "mapping_hash": mapping_hash(plan.entity)}


def plan_totals_minor(plan: Plan) -> dict[str, dict[str, int]]:
    from sync_pipeline.domain.invoice_plan import plan_totals

    return plan_totals(plan.plans)


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def plan_hash(plan: Plan) -> str:
    return content_hash(plan_content(plan))


def _rows(plan: Plan) -> list[tuple[str, str, int, int]]:
    return [(gp.currency, op.op, op.amount_minor, op.delta_minor) for gp, op in plan.ops]


def mapping_gate(plan: Plan, store: OperationalStore, run: PostingRun) -> str:
    """The entity's mapping version (recorded on first sight); :class:`AwaitingApproval` when it changed and
    nobody accepted the change yet while the plan has something to write."""
    versions = MappingVersions(store)
    mv = versions.observe(plan.entity, by=run.triggered_by)
    if plan.ops and mv.status != "accepted":
        entity = plan.entity.key
        accepted = versions.accepted(entity)
        changes = diff(accepted.content if accepted else {}, mv.content)
        raise AwaitingApproval(
            f"awaiting approval of the mapping: the billing mapping of {entity} changed since the version accepted "
            f"by {accepted.accepted_by if accepted else 'nobody'} ({'; '.join(changes[:5]) or 'see the diff'}"
            f"{' …' if len(changes) > 5 else ''}); nothing was posted. An approver other than {mv.proposed_by} "
            f"reviews `sync-pipeline mapping diff --entity {entity}` and accepts it with `sync-pipeline mapping "
            f"accept --entity {entity} --hash {mv.mapping_hash[:16]}`; then run posting again")
    return mv.mapping_hash


def authorize(plan: Plan, store: OperationalStore, run: PostingRun) -> Approval:
    """The approval that lets ``plan`` be written, or :class:`AwaitingApproval` (the plan stored for an approver)."""
    mh = mapping_gate(plan, store, run)
    content = plan_content(plan)
    h = content_hash(content)
    if not plan.ops:
        return Approval(h, None, None, "none", mapping_hash=mh)
    entity, period = plan.entity.key, plan.period.key
    approvals = PlanApprovals(store)
    ops = {op_content_hash(op) for _, op in plan.ops}
    stored = approvals.plans(entity, period)
    breaches = plan.breaches
    for p in reversed(stored):
        covered = p.plan_hash == h or (ops <= set(p.op_hashes) and (
            not breaches or p.content.get("guard_breaches") == breaches))  # past the guard only if it was seen
        if p.status in ("approved", "posted") and covered:
            return Approval(p.plan_hash, p.decided_by, p.decided_at, p.decision_kind or "person", p.id, mh)
    rejected = next((p for p in stored if p.plan_hash == h and p.status == "rejected"), None)
    if rejected is not None:
        why = rejected.comment or "no comment"
        raise AwaitingApproval(
            f"plan {h[:12]} for {entity} {period} was rejected by {rejected.decided_by} ({why}): nothing posted. "
            "Fix the cause (source, mapping or drafts); the changed plan waits for approval again", rejected)
    record = approvals.record(entity=entity, period=period, plan_hash=h, content=content, op_hashes=sorted(ops),
                              documents=plan.documents_written, totals=plan_totals_minor(plan),
                              mapping_hash=mh, created_by=run.triggered_by)
    policy = approvals.active_policy(entity)
    if policy is not None and not plan.breaches and set(plan_totals_minor(plan)) <= set(policy.max_total_minor) \
            and not breaches_of(_rows(plan), Limits(policy.max_documents, policy.max_total_minor)):
        p = approvals.decide(entity, period, h, by=policy.label, approve=True, kind="policy",
                             comment=f"within {policy.max_documents} documents and {policy.max_total_minor}")
        return Approval(h, p.decided_by, p.decided_at, "policy", p.id, mh)
    totals = ", ".join(f"{ccy} invoiced {t['invoiced_minor']} credited {t['credited_minor']} (minor units)"
                       for ccy, t in sorted(record.totals.items()))
    raise AwaitingApproval(
        f"awaiting approval: plan {h[:12]} for {entity} {period} writes {record.documents} document(s) ({totals}); "
        f"nothing was posted. An approver other than {run.triggered_by} reviews it (`sync-pipeline posting plan "
        f"--entity {entity} --period {period}`) and approves with `sync-pipeline posting approve --entity {entity} "
        f"--period {period} --plan-hash {h[:16]}`; then run posting again", record)


def mark_posted(store: OperationalStore, approval: Approval, run_id: str | None) -> None:
    if approval.plan_id is not None:
        PlanApprovals(store).mark_posted(approval.plan_id, run_id)
