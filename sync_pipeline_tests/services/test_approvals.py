# ruff: noqa: F811  (pytest fixtures imported from the posting conftest are parameters here)
"""Four eyes on posting, against the Xero sandbox: a plan posts only once someone other than its trigger
approved its exact content (or an admin-approved policy covers it), and then exactly once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sync_pipeline.domain.periods import Period
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.approvals import AwaitingApproval, plan_hash
from sync_pipeline.services.posting import PostingBlocked, PostingRun, apply_plan, build_plan
from sync_pipeline.store.approvals import ApprovalError, PlanApprovals
from sync_pipeline.store.controls import PostingControls
from sync_pipeline.store.posted_lines import posted_lines
from sync_pipeline_tests.identity import standing_policy
from sync_pipeline_tests.posting.conftest import ENTITY, as_target, drafts, sqlite_store, xero  # noqa: F401 (fixtures)

P = Period.parse("2026-10")
TENANT = demo_data.XERO_TENANT_ID
BASE = [
    ("1", "Acme Corp", "GBP", "11", "1", "100", "3.0", "1002"),
    ("1", "Acme Corp", "GBP", "11", "2", "120", "1.25", "1003"),
    ("2", "Globex GmbH", "EUR", "21", "1", "110", "4.0", "1005"),
]
OLIVIA = PostingRun("olivia", "run-1")  # an operator


def live(sandboxes):
    return [d for d in sandboxes.xero.all("Invoices", TENANT) if d["Status"] not in ("VOIDED", "DELETED")]


def attempt(lines, xero, store, run=OLIVIA):
    plan = build_plan(drafts("acme-uk", "2026-10", lines), entity=ENTITY, period=P, target=as_target(xero), store=store)
    return plan, apply_plan(plan, target=as_target(xero), store=store, run=run)


def awaiting(lines, xero, store, run=OLIVIA):
    with pytest.raises(AwaitingApproval) as e:
        attempt(lines, xero, store, run)
    return e.value


def test_without_approval_nothing_is_posted_and_the_plan_waits(sandboxes, xero, sqlite_store):
    e = awaiting(BASE, xero, sqlite_store)
    assert live(sandboxes) == []
    assert "awaiting approval" in str(e) and "posting approve --entity acme-uk --period 2026-10" in str(e)
    [stored] = PlanApprovals(sqlite_store).plans("acme-uk", "2026-10")
    assert (stored.status, stored.created_by, stored.documents) == ("awaiting_approval", "olivia", 2)
    assert [d["reference"] for d in stored.content["documents"]] == ["SP-acme-uk-2026-10-C1-R1",
                                                                      "SP-acme-uk-2026-10-C2-R1"]
    assert stored.totals["GBP"]["invoiced_minor"] == 45000 and stored.totals["EUR"]["invoiced_minor"] == 44000
    assert [len(d["lines"]) for d in stored.content["documents"]] == [2, 1]


def test_self_approval_is_refused(sandboxes, xero, sqlite_store):
    e = awaiting(BASE, xero, sqlite_store)
    approvals = PlanApprovals(sqlite_store)
    with pytest.raises(ApprovalError, match="olivia triggered plan .* may not approve or reject it"):
        approvals.decide("acme-uk", "2026-10", e.plan.plan_hash, by="olivia", approve=True, comment="me")
    with pytest.raises(AwaitingApproval):  # still waiting
        attempt(BASE, xero, sqlite_store)
    assert live(sandboxes) == []


def test_an_approved_plan_posts_exactly_once_with_its_approver_on_every_line(sandboxes, xero, sqlite_store):
    e = awaiting(BASE, xero, sqlite_store)
    PlanApprovals(sqlite_store).decide("acme-uk", "2026-10", e.plan.plan_hash[:16], by="carol", approve=True,
                                       comment="matches the timesheets")
    plan, res = attempt(BASE, xero, sqlite_store)
    assert set(res.frame["outcome"]) == {"created"} and len(live(sandboxes)) == 2
    assert res.run.approved_by == "carol" and res.run.plan_hash == e.plan.plan_hash
    assert all(str(a).startswith(f"posting: carol at {res.run.approved_at} (plan {e.plan.plan_hash[:12]})")
               for a in res.frame["approved_by"])
    ledger = sqlite_store.ledger_for("acme-uk", "2026-10")
    assert {(r["plan_approved_by"], r["plan_approved_at"], r["plan_hash"]) for r in ledger} == {
        ("carol", res.run.approved_at, e.plan.plan_hash)}
    with sqlite_store.engine.connect() as c:
        lines = c.execute(sa.select(posted_lines.c.plan_approved_by, posted_lines.c.plan_hash)).all()
    assert len(lines) == 3 and set(lines) == {("carol", e.plan.plan_hash)}
    [stored] = PlanApprovals(sqlite_store).plans("acme-uk", "2026-10")
    assert (stored.status, stored.posted_run_id) == ("posted", "run-1")
    # again: nothing to write, nothing needs approving, nothing is posted twice
    _, again = attempt(BASE, xero, sqlite_store, PostingRun("schedule:nightly", "run-2"))
    assert set(again.frame["outcome"]) == {"already_posted"} and len(live(sandboxes)) == 2
    actions = [a["action"] for a in sqlite_store.audit_entries("acme-uk")]
    assert actions.count("plan_awaiting_approval") == 1 and actions.count("plan_approved") == 1


def test_a_plan_that_changed_after_approval_is_not_posted(sandboxes, xero, sqlite_store):
    e = awaiting(BASE, xero, sqlite_store)
    PlanApprovals(sqlite_store).decide("acme-uk", "2026-10", e.plan.plan_hash, by="carol", approve=True, comment="ok")
    changed = [*BASE[:2], ("2", "Globex GmbH", "EUR", "21", "1", "110", "40.0", "1005")]  # 4 h became 40 h
    e2 = awaiting(changed, xero, sqlite_store)
    assert e2.plan.plan_hash != e.plan.plan_hash and live(sandboxes) == []
    statuses = {p.plan_hash: p.status for p in PlanApprovals(sqlite_store).plans("acme-uk", "2026-10")}
    assert statuses == {e.plan.plan_hash: "approved", e2.plan.plan_hash: "awaiting_approval"}


def test_a_rejected_plan_stops_with_the_reason(sandboxes, xero, sqlite_store):
    e = awaiting(BASE, xero, sqlite_store)
    PlanApprovals(sqlite_store).decide("acme-uk", "2026-10", e.plan.plan_hash, by="carol", approve=False,
                                       comment="Globex is billed by hand this month")
    with pytest.raises(AwaitingApproval, match="rejected by carol \\(Globex is billed by hand this month\\)"):
        attempt(BASE, xero, sqlite_store)
    assert live(sandboxes) == []


def test_the_hash_binds_entity_period_documents_lines_and_totals(xero, sqlite_store):
    def h(lines, period=P):
        plan = build_plan(drafts("acme-uk", period.key, lines), entity=ENTITY, period=period, target=as_target(xero),
                          store=sqlite_store, today=P.end)
        return plan_hash(plan)

    base = h(BASE)
    assert h(BASE) == base  # the same writes, planned again
    assert h(BASE[:2]) != base  # a document less
    assert h([BASE[0], BASE[2]]) != base  # a line less
    assert h([*BASE[:2], ("2", "Globex GmbH", "EUR", "21", "1", "111", "4.0", "1005")]) != base  # a rate
    assert h([*BASE[:2], ("2", "Globex GmbH", "EUR", "21", "1", "110", "4.0", "1006")]) != base  # an entry


def test_auto_approval_policy_is_approved_by_a_second_admin_and_bounded(sandboxes, xero, sqlite_store):
    approvals = PlanApprovals(sqlite_store)
    p = approvals.propose_policy("acme-uk", max_documents=5, max_total_minor={"GBP": 50000, "EUR": 40000},
                                 by="root")
    with pytest.raises(ApprovalError, match="root proposed policy v1 and may not approve it"):
        approvals.approve_policy("acme-uk", p.version, by="root")
    awaiting(BASE, xero, sqlite_store)  # proposed only: not in force
    approvals.approve_policy("acme-uk", p.version, by="ada")
    e = awaiting(BASE, xero, sqlite_store)  # EUR 440.00 is above the policy's EUR 400.00
    assert e.plan.status == "awaiting_approval" and live(sandboxes) == []
    v2 = approvals.propose_policy("acme-uk", max_documents=5, max_total_minor={"GBP": 50000, "EUR": 50000}, by="root")
    approvals.approve_policy("acme-uk", v2.version, by="ada")
    _, res = attempt(BASE, xero, sqlite_store)
    assert set(res.frame["outcome"]) == {"created"}
    assert res.run.approved_by == "policy acme-uk v2 (approved by ada)"
    assert [x.status for x in approvals.policies("acme-uk")] == ["superseded", "active"]


def test_the_guard_still_holds_under_a_policy_and_a_person_may_approve_past_it(sandboxes, xero, sqlite_store):
    standing_policy(sqlite_store, "acme-uk")
    PostingControls(sqlite_store).set_limits("acme-uk", actor="root", max_total_minor={"GBP": 40000})
    e = awaiting(BASE, xero, sqlite_store)  # over the guard: the policy does not apply
    assert live(sandboxes) == [] and isinstance(e, PostingBlocked)
    PlanApprovals(sqlite_store).decide("acme-uk", "2026-10", e.plan.plan_hash, by="carol", approve=True,
                                       comment="the GBP limit is out of date")
    _, res = attempt(BASE, xero, sqlite_store)
    assert set(res.frame["outcome"]) == {"created"}
    overridden = [a for a in sqlite_store.audit_entries("acme-uk") if a["action"] == "guard_overridden"]
    assert [a["actor"] for a in overridden] == ["carol"]
