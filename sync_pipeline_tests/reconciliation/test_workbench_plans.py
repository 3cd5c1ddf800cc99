# ruff: noqa: F811  (pytest fixtures imported from the posting conftest are parameters here)
"""Reviewing invoice plans in the workbench: a real plan built against the Xero sandbox waits for approval;
an approver approves or rejects it through ``PlanApprovals.decide`` (as the CLI does), bound to its hash."""

from __future__ import annotations

import pytest

from sync_pipeline.contracts.reconciliation import ReconciliationConfig
from sync_pipeline.domain.periods import Period
from sync_pipeline.services.approvals import AwaitingApproval
from sync_pipeline.services.posting import PostingRun, apply_plan, build_plan
from sync_pipeline.store import audit
from sync_pipeline.store.approvals import PlanApprovals
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.matching_log import MatchingLog
from sync_pipeline.workbench.app import create_app
from sync_pipeline.workbench.auth import UserStore
from sync_pipeline.workbench.server import BackgroundServer
from sync_pipeline_tests.posting.conftest import ENTITY, as_target, drafts, sqlite_store, xero  # noqa: F401 (fixtures)
from sync_pipeline_tests.reconciliation.browser import Client, login

P = Period.parse("2026-10")
BASE = [  # two clients, two currencies: two invoices
    ("1", "Acme Corp", "GBP", "11", "1", "100", "3.0", "1002"),
    ("1", "Acme Corp", "GBP", "11", "2", "120", "1.25", "1003"),
    ("2", "Globex GmbH", "EUR", "21", "1", "110", "4.0", "1005"),
]
OLIVIA = PostingRun("olivia", "run-1")  # the operator who triggers posting (she is an approver too)
USERS = {"olivia": ["operator", "approver"], "carol": ["approver"], "victor": ["viewer"]}


def wait_for_approval(lines, xero, store):
    """Posting as olivia stops before writing anything: the plan is stored, awaiting approval."""
    plan = build_plan(drafts("acme-uk", "2026-10", lines), entity=ENTITY, period=P, target=as_target(xero), store=store)
    with pytest.raises(AwaitingApproval) as e:
        apply_plan(plan, target=as_target(xero), store=store, run=OLIVIA)
    return e.value.plan


@pytest.fixture
def review(sandboxes, xero, sqlite_store):
    for name, roles in USERS.items():
        Identities(sqlite_store).add(name, roles, by="pytest", password=f"{name}-secret")
    stored = wait_for_approval(BASE, xero, sqlite_store)
    app = create_app(MatchingLog(sqlite_store), UserStore(sqlite_store),
                     policy_for=lambda e: ReconciliationConfig().policy(e))
    server = BackgroundServer(app).start()
    try:
        yield server.url, sqlite_store, stored
    finally:
        server.stop()


def signed_in(url: str, name: str) -> Client:
    c = Client(url)
    assert c.sign_in(name, f"{name}-secret").status_code == 303
    return c


def decide(c: Client, plan_id: int, action: str, plan_hash: str, comment: str = "") -> str:
    """POST the plan page's form; the flash message the page shows afterwards."""
    r = c.post(f"/plans/{plan_id}/decide", {"action": action, "plan_hash": plan_hash, "comment": comment},
               csrf_from=f"/plans/{plan_id}")
    assert r.status_code == 303, r.text
    return c.get(r.headers["location"]).text


def test_the_list_and_the_plan_page_show_what_would_be_written_and_are_recorded(review):
    url, store, stored = review
    with signed_in(url, "victor") as c:
        listing = c.get("/plans").text
        page = c.get(f"/plans/{stored.id}").text
    assert f'href="/plans/{stored.id}"' in listing and "olivia" in listing and stored.plan_hash[:16] in listing
    assert 'id="nav-plans"' in listing
    assert stored.plan_hash in page and "SP-acme-uk-2026-10-C1-R1" in page and "SP-acme-uk-2026-10-C2-R1" in page
    assert "450.00 GBP" in page and "440.00 EUR" in page  # totals per currency (the stored plan's)
    assert "create invoice" in page and "not there yet" in page  # the diff: new documents in Xero
    assert 'id="may-not-decide"' in page and 'id="approve-plan"' not in page
    seen = [(e.action, e.subject, e.entity) for e in audit.events(store, stream=audit.ACCESS, actor="victor")]
    assert seen[-2:] == [("workbench_page", "/plans", None), ("workbench_page", f"/plans/{stored.id}", "acme-uk")]


def test_an_approver_approves_and_the_decision_is_the_clis(review):
    url, store, stored = review
    with signed_in(url, "carol") as c:
        page = decide(c, stored.id, "approve", stored.plan_hash, "checked against the timesheets")
    assert f"Plan {stored.plan_hash[:12]} of acme-uk 2026-10 approved by carol" in page
    p = PlanApprovals(store).get(stored.id)
    assert (p.status, p.decided_by, p.decision_kind, p.comment) == ("approved", "carol", "person",
                                                                    "checked against the timesheets")
    [ev] = audit.events(store, action="plan_approved")
    assert ev.actor == "carol" and ev.detail["plan_hash"] == stored.plan_hash and ev.detail["triggered_by"] == "olivia"


def test_a_rejection_needs_and_keeps_its_comment(review):
    url, store, stored = review
    with signed_in(url, "carol") as c:
        assert "Not rejected: say why in the comment" in decide(c, stored.id, "reject", stored.plan_hash)
        assert PlanApprovals(store).get(stored.id).status == "awaiting_approval"
        page = decide(c, stored.id, "reject", stored.plan_hash, "Globex is billed by hand this month")
    assert "rejected by carol" in page and "Globex is billed by hand this month" in page
    p = PlanApprovals(store).get(stored.id)
    assert (p.status, p.comment) == ("rejected", "Globex is billed by hand this month")


def test_whoever_triggered_the_plan_may_not_approve_it(review):
    url, store, stored = review
    with signed_in(url, "olivia") as c:  # an approver too, but she triggered it
        page = decide(c, stored.id, "approve", stored.plan_hash)
    assert "Not done: olivia triggered plan" in page and "four eyes — another approver decides" in page
    assert PlanApprovals(store).get(stored.id).status == "awaiting_approval"


def test_a_viewer_may_look_but_not_decide(review):
    url, store, stored = review
    with signed_in(url, "victor") as c:
        r = c.post(f"/plans/{stored.id}/decide", {"action": "approve", "plan_hash": stored.plan_hash},
                   csrf_from=f"/plans/{stored.id}")
    assert r.status_code == 403 and "may not decide_plan" in r.text
    assert PlanApprovals(store).get(stored.id).status == "awaiting_approval"


def test_a_plan_that_changed_since_the_page_was_shown_is_refused(review, xero):
    url, store, stored = review
    with signed_in(url, "carol") as c:
        page = decide(c, stored.id, "approve", "0" * 64)  # a form for another content than the stored plan's
        assert "Not done: the page showed plan 000000000000" in page
        changed = [*BASE[:2], ("2", "Globex GmbH", "EUR", "21", "1", "110", "40.0", "1005")]  # 4 h became 40 h
        newer = wait_for_approval(changed, xero, store)  # posting planned again: the shown plan is superseded
        page = decide(c, stored.id, "approve", stored.plan_hash)
        assert "is superseded: nothing to decide" in page and "A newer plan replaced it" in page
        listing = c.get("/plans").text
    assert f'href="/plans/{newer.id}"' in listing and f'href="/plans/{stored.id}"' not in listing
    statuses = {p.id: p.status for p in PlanApprovals(store).plans("acme-uk", "2026-10")}
    assert statuses == {stored.id: "superseded", newer.id: "awaiting_approval"}


def test_a_csrf_less_decision_is_refused(review):
    url, store, stored = review
    with signed_in(url, "carol") as c:
        r = c.post(f"/plans/{stored.id}/decide", {"action": "approve", "plan_hash": stored.plan_hash})
    assert r.status_code == 403 and "security token" in r.text
    assert PlanApprovals(store).get(stored.id).status == "awaiting_approval"


def test_approving_in_a_browser(review, browser):
    url, store, stored = review
    page = browser.new_page()
    login(page, url, "carol", "carol-secret")
    page.click("#nav-plans")
    page.click(f"tr[data-plan='{stored.id}'] a")
    assert page.inner_text("#plan-hash") == stored.plan_hash
    assert page.inner_text("#triggered-by") == "olivia"
    page.fill("#plan-comment", "looks right")
    page.click("#approve-plan")
    assert "approved by carol" in page.inner_text("#flash")
    assert page.inner_text("#plan-status") == "approved"
    assert PlanApprovals(store).get(stored.id).status == "approved"
    page.close()
