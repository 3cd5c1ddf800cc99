"""Signing in for tests: a user with the given roles in the test's operational store, and their API token."""

from __future__ import annotations

from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore


def token_for(store_url: str, name: str, *roles: str, kind: str = "person") -> str:
    """Create (or update) ``name`` with ``roles`` in the store at ``store_url``; an API token for them."""
    store = OperationalStore(store_url)
    try:
        ids = Identities(store)
        ids.add(name, list(roles), by="pytest-admin", kind=kind)
        return ids.issue_token(name, by="pytest-admin", days=1)
    finally:
        store.dispose()


def sign_in(monkeypatch, store_url: str, name: str, *roles: str) -> str:
    """Point the CLI at ``store_url`` and sign in as ``name`` (SYNC_PIPELINE_TOKEN)."""
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", store_url)
    token = token_for(store_url, name, *roles)
    monkeypatch.setenv("SYNC_PIPELINE_TOKEN", token)
    return token


def approve_awaiting(store, entity: str, period: str, approver: str = "carol", comment: str = "pytest: reviewed") -> list:
    """``approver`` (not the trigger) approves every plan of the partition awaiting approval; what was approved."""
    from sync_pipeline.store.approvals import PlanApprovals

    approvals = PlanApprovals(store)
    return [approvals.decide(entity, period, p.plan_hash, by=approver, approve=True, comment=comment)
            for p in approvals.plans(entity, period, ["awaiting_approval"])]


def standing_policy(store, entity: str, *, max_documents: int = 10_000,
                    max_total_minor: dict[str, int] | None = None) -> None:
    """An auto-approval policy for ``entity``, proposed by one admin and approved by another (four eyes): for
    tests about billing and posting mechanics, not about approving plans."""
    from sync_pipeline.store.approvals import PlanApprovals

    limits = max_total_minor or {c: 10**12 for c in ("GBP", "EUR", "USD", "JPY", "NZD", "CHF", "AUD", "CAD")}
    approvals = PlanApprovals(store)
    p = approvals.propose_policy(entity, max_documents=max_documents, max_total_minor=limits, by="pytest-admin-1")
    approvals.approve_policy(entity, p.version, by="pytest-admin-2")


def post_with_approval(drafts, **kw):
    """``services.posting.post_invoices`` four eyes: the plan awaits approval, carol approves it, it posts."""
    from sync_pipeline.services.approvals import AwaitingApproval
    from sync_pipeline.services.posting import post_invoices

    try:
        return post_invoices(drafts, **kw)
    except AwaitingApproval as e:
        if e.plan is None or e.plan.status != "awaiting_approval":
            raise
        approve_awaiting(kw["store"], kw["entity"].key, kw["period"].key)
        return post_invoices(drafts, **kw)


def run_tags(store, name: str, *roles: str) -> dict[str, str]:
    """Tags of a Dagster run launched by ``name`` (created with ``roles``) the way the CLI launches it: a ticket."""
    from sync_pipeline.store.identity import TICKET_TAG

    ids = Identities(store)
    if ids.get(name) is None:
        ids.add(name, list(roles), by="pytest-admin")
    return {"triggered_by": name, TICKET_TAG: ids.run_ticket(name)}
