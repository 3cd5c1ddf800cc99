"""Invoice plans waiting for (or given) four-eyes approval, and the auto-approval policies per entity.

``posting_plans``: one row per (entity, period, plan hash) that posting was asked to write: the plan's
content (documents, lines, totals) as JSON, who triggered it, and its decision — awaiting_approval,
approved (by a person, or by a policy), rejected, posted, superseded (a newer plan replaced it
before anybody decided). ``approval_policies``: versions of an entity's auto-approval limits, each
proposed by one admin and approved by another before it applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

posting_plans = sa.Table(
    "posting_plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("plan_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),  # awaiting_approval | approved | rejected | posted | superseded
    sa.Column("content", sa.Text, nullable=False),  # JSON: documents, lines, totals
    sa.Column("op_hashes", sa.Text, nullable=False),  # JSON list: the writes the plan is made of
    sa.Column("documents", sa.Integer, nullable=False),
    sa.Column("totals", sa.Text, nullable=False),  # JSON {currency: {invoiced, credited, net_change, gross}}
    sa.Column("mapping_hash", sa.String(64)),
    sa.Column("created_by", sa.String(128), nullable=False),  # who (or which automation) triggered the plan
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("decided_by", sa.String(255)),  # the approver, or "policy <entity> v<n> (approved by <admin>)"
    sa.Column("decided_at", sa.String(40)),
    sa.Column("decision_kind", sa.String(16)),  # person | policy
    sa.Column("comment", sa.Text),
    sa.Column("posted_run_id", sa.String(64)),
    sa.Column("posted_at", sa.String(40)),
    sa.UniqueConstraint("entity", "period", "plan_hash", name="uq_posting_plans_hash"),
)

approval_policies = sa.Table(
    "approval_policies",
    metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("max_documents", sa.Integer, nullable=False),
    sa.Column("max_total_minor", sa.Text, nullable=False),  # JSON {currency: gross minor units}
    sa.Column("status", sa.String(16), nullable=False),  # proposed | active | superseded | rejected
    sa.Column("proposed_by", sa.String(128), nullable=False),
    sa.Column("proposed_at", sa.String(40), nullable=False),
    sa.Column("approved_by", sa.String(128)),
    sa.Column("approved_at", sa.String(40)),
    sa.Column("comment", sa.Text),
)


class ApprovalError(ValueError):
    """An approval that may not be given (self-approval, unknown or already decided plan …)."""


@dataclass(frozen=True)
class StoredPlan:
    id: int
    entity: str
    period: str
    plan_hash: str
    status: str
    content: dict[str, Any]
    op_hashes: list[str]
    documents: int
    totals: dict[str, Any]
    mapping_hash: str | None
    created_by: str
    created_at: str
    decided_by: str | None
    decided_at: str | None
    decision_kind: str | None
    comment: str | None
    posted_run_id: str | None

    @classmethod
    def of(cls, row: Any) -> StoredPlan:
        r = dict(row)
        return cls(r["id"], r["entity"], r["period"], r["plan_hash"], r["status"], json.loads(r["content"]),
                   json.loads(r["op_hashes"]), r["documents"], json.loads(r["totals"]), r["mapping_hash"],
                   r["created_by"], r["created_at"], r["decided_by"], r["decided_at"], r["decision_kind"],
                   r["comment"], r["posted_run_id"])


@dataclass(frozen=True)
class Policy:
    entity: str
    version: int
    max_documents: int
    max_total_minor: dict[str, int]
    status: str
    proposed_by: str
    proposed_at: str
    approved_by: str | None
    approved_at: str | None
    comment: str | None

    @property
    def label(self) -> str:
        return f"policy {self.entity} v{self.version} (approved by {self.approved_by})"


class PlanApprovals:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- plans --------------------------------------------------------------------------------
    def plans(self, entity: str, period: str | None = None, statuses: list[str] | None = None) -> list[StoredPlan]:
        q = sa.select(posting_plans).where(posting_plans.c.entity == entity).order_by(posting_plans.c.id)
        if period:
            q = q.where(posting_plans.c.period == period)
        if statuses:
            q = q.where(posting_plans.c.status.in_(statuses))
        with self.engine.connect() as c:
            return [StoredPlan.of(r) for r in c.execute(q).mappings()]

    def awaiting(self) -> list[StoredPlan]:
        """Every plan waiting for an approver, across entities, oldest first (the workbench's list)."""
        q = sa.select(posting_plans).where(posting_plans.c.status == "awaiting_approval").order_by(posting_plans.c.id)
        with self.engine.connect() as c:
            return [StoredPlan.of(r) for r in c.execute(q).mappings()]

    def get(self, plan_id: int) -> StoredPlan | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(posting_plans).where(posting_plans.c.id == plan_id)).mappings().first()
        return StoredPlan.of(row) if row is not None else None

    def find(self, entity: str, period: str, plan_hash: str) -> StoredPlan:
        """The plan whose hash is ``plan_hash`` (or starts with it: at least 12 characters)."""
        if len(plan_hash) < 12:
            raise ApprovalError("give the plan hash (at least its first 12 characters), as `posting plan` prints it")
        found = [p for p in self.plans(entity, period) if p.plan_hash.startswith(plan_hash)]
        if len(found) != 1:
            raise ApprovalError(f"no stored plan {plan_hash} for {entity} {period}" if not found else
                                f"{plan_hash} matches {len(found)} plans; give more of the hash")
        return found[0]

    def record(self, *, entity: str, period: str, plan_hash: str, content: dict[str, Any], op_hashes: list[str],
               documents: int, totals: dict[str, Any], mapping_hash: str | None, created_by: str) -> StoredPlan:
        """Store a plan awaiting approval (once per hash); older undecided plans of the partition are superseded."""
        with self.engine.begin() as c:
            row = c.execute(sa.select(posting_plans).where(
                posting_plans.c.entity == entity, posting_plans.c.period == period,
                posting_plans.c.plan_hash == plan_hash)).mappings().first()
            if row is not None:
                return StoredPlan.of(row)
            c.execute(posting_plans.update().where(
                posting_plans.c.entity == entity, posting_plans.c.period == period,
                posting_plans.c.status == "awaiting_approval").values(status="superseded"))
            c.execute(posting_plans.insert().values(
                entity=entity, period=period, plan_hash=plan_hash, status="awaiting_approval",
                content=json.dumps(content, sort_keys=True, default=str), op_hashes=json.dumps(op_hashes),
                documents=documents, totals=json.dumps(totals, sort_keys=True, default=str),
                mapping_hash=mapping_hash, created_by=created_by, created_at=now_iso()))
        self.store.audit(created_by, "plan_awaiting_approval", entity=entity, subject=period,
                         detail={"plan_hash": plan_hash, "documents": documents, "totals": totals})
        return self.find(entity, period, plan_hash)

    def decide(self, entity: str, period: str, plan_hash: str, *, by: str, approve: bool, comment: str | None,
               kind: str = "person") -> StoredPlan:
        """Approve or reject a plan awaiting approval; nobody decides a plan they (or their automation) triggered."""
        plan = self.find(entity, period, plan_hash)
        if plan.status != "awaiting_approval":
            raise ApprovalError(f"plan {plan.plan_hash[:12]} of {entity} {period} is {plan.status}"
                                + (f" (by {plan.decided_by})" if plan.decided_by else "") + ": nothing to decide")
        if kind == "person" and by == plan.created_by:
            raise ApprovalError(f"{by} triggered plan {plan.plan_hash[:12]} and may not approve or reject it: "
                                "four eyes — another approver decides")
        status = "approved" if approve else "rejected"
        with self.engine.begin() as c:
            c.execute(posting_plans.update().where(posting_plans.c.id == plan.id).values(
                status=status, decided_by=by, decided_at=now_iso(), decision_kind=kind, comment=comment))
        self.store.audit(by, f"plan_{status}", entity=entity, subject=period,
                         detail={"plan_hash": plan.plan_hash, "comment": comment, "kind": kind,
                                 "triggered_by": plan.created_by, "documents": plan.documents,
                                 "totals": plan.totals})
        return self.find(entity, period, plan.plan_hash)

    def mark_posted(self, plan_id: int, run_id: str | None) -> None:
        with self.engine.begin() as c:
            c.execute(posting_plans.update().where(posting_plans.c.id == plan_id,
                                                   posting_plans.c.status == "approved")
                      .values(status="posted", posted_run_id=run_id, posted_at=now_iso()))

    # -- auto-approval policies ---------------------------------------------------------------------
    def policies(self, entity: str) -> list[Policy]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(approval_policies).where(approval_policies.c.entity == entity)
                             .order_by(approval_policies.c.version)).mappings().all()
        return [Policy(r["entity"], r["version"], r["max_documents"],
                       {k: int(v) for k, v in json.loads(r["max_total_minor"]).items()}, r["status"],
                       r["proposed_by"], r["proposed_at"], r["approved_by"], r["approved_at"], r["comment"])
                for r in rows]

    def active_policy(self, entity: str) -> Policy | None:
        return next((p for p in self.policies(entity) if p.status == "active"), None)

    def propose_policy(self, entity: str, *, max_documents: int, max_total_minor: dict[str, int], by: str,
                       comment: str | None = None) -> Policy:
        if max_documents < 1 or not max_total_minor or any(v < 0 for v in max_total_minor.values()):
            raise ApprovalError("a policy names a document count of at least 1 and a gross limit per currency "
                                "(plans in a currency without a limit always need an approver)")
        version = max((p.version for p in self.policies(entity)), default=0) + 1
        with self.engine.begin() as c:
            c.execute(approval_policies.insert().values(
                entity=entity, version=version, max_documents=max_documents,
                max_total_minor=json.dumps(max_total_minor, sort_keys=True), status="proposed", proposed_by=by,
                proposed_at=now_iso(), comment=comment))
        self.store.audit(by, "approval_policy_proposed", entity=entity, subject=f"v{version}",
                         detail={"max_documents": max_documents, "max_total_minor": max_total_minor})
        return self.policies(entity)[-1]

    def approve_policy(self, entity: str, version: int, *, by: str) -> Policy:
        """Another admin than the proposer makes a proposed version the entity's active policy."""
        found = [p for p in self.policies(entity) if p.version == version]
        if not found or found[0].status != "proposed":
            raise ApprovalError(f"no proposed policy v{version} for {entity}")
        if found[0].proposed_by == by:
            raise ApprovalError(f"{by} proposed policy v{version} and may not approve it: another admin does")
        with self.engine.begin() as c:
            c.execute(approval_policies.update().where(approval_policies.c.entity == entity,
                                                       approval_policies.c.status == "active")
                      .values(status="superseded"))
            c.execute(approval_policies.update().where(approval_policies.c.entity == entity,
                                                       approval_policies.c.version == version)
                      .values(status="active", approved_by=by, approved_at=now_iso()))
        self.store.audit(by, "approval_policy_approved", entity=entity, subject=f"v{version}",
                         detail={"proposed_by": found[0].proposed_by})
        return next(p for p in self.policies(entity) if p.version == version)
