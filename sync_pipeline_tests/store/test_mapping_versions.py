# ruff: noqa: F811  (pytest fixtures imported from the posting conftest are parameters here)
"""Mapping versions: the hash of an entity's money-moving mapping goes with every posting; a changed mapping
posts nothing until an approver other than its proposer accepts the diff."""

from __future__ import annotations

import pytest

from sync_pipeline.domain.periods import Period
from sync_pipeline.services.approvals import AwaitingApproval
from sync_pipeline.services.posting import PostingRun, apply_plan, build_plan
from sync_pipeline.store.mapping_versions import MappingVersionError, MappingVersions, diff, mapping_hash, money_view
from sync_pipeline_tests.identity import approve_awaiting
from sync_pipeline_tests.posting.conftest import ENTITY, as_target, drafts, sqlite_store, xero  # noqa: F401 (fixtures)

P = Period.parse("2026-10")
LINES = [("1", "Acme Corp", "GBP", "11", "1", "100", "3.0", "1002")]
MORE = [*LINES, ("1", "Acme Corp", "GBP", "11", "2", "120", "1.25", "1003")]


def post(entity, lines, xero, store):
    plan = build_plan(drafts("acme-uk", "2026-10", lines), entity=entity, period=P, target=as_target(xero), store=store)
    return apply_plan(plan, target=as_target(xero), store=store, run=PostingRun("schedule:nightly", "run"))


def test_the_hash_covers_what_moves_money_only():
    base = mapping_hash(ENTITY)
    assert mapping_hash(ENTITY.model_copy(update={"name": "Acme (renamed)"})) == base
    for change in ({"sales_account_code": "201"}, {"tax_rate_percent": 5}, {"payment_terms_days": 14},
                   {"use_source_rates": False}):
        assert mapping_hash(ENTITY.model_copy(update=change)) != base, change
    assert diff(money_view(ENTITY), money_view(ENTITY.model_copy(update={"sales_account_code": "201"}))) == [
        'sales_account_code: "200" → "201"']


def test_a_changed_mapping_posts_only_after_another_approver_accepts_it(sandboxes, xero, sqlite_store):
    versions = MappingVersions(sqlite_store)
    with pytest.raises(AwaitingApproval, match="awaiting approval: plan"):  # the first version is the baseline
        post(ENTITY, LINES, xero, sqlite_store)
    approve_awaiting(sqlite_store, "acme-uk", "2026-10")
    res = post(ENTITY, LINES, xero, sqlite_store)
    assert res.run.mapping_hash == mapping_hash(ENTITY)
    assert {r["mapping_hash"] for r in sqlite_store.ledger_for("acme-uk", "2026-10")} == {mapping_hash(ENTITY)}
    [baseline] = versions.all("acme-uk")
    assert (baseline.status, baseline.accepted_by) == ("accepted", "baseline (first version seen)")

    # someone changes the revenue account in the mapping file; a new entry comes in
    changed = ENTITY.model_copy(update={"sales_account_code": "201"})
    with pytest.raises(AwaitingApproval, match='awaiting approval of the mapping: .*sales_account_code: "200" → '
                                               '"201".*mapping accept --entity acme-uk'):
        post(changed, MORE, xero, sqlite_store)
    assert len(sqlite_store.ledger_for("acme-uk", "2026-10")) == 1  # nothing more was written
    v = versions.get("acme-uk", mapping_hash(changed))
    assert (v.status, v.proposed_by) == ("proposed", "schedule:nightly")
    versions.propose(changed, by="maya", comment="revenue moves to 201 from November")  # the mapping editor
    with pytest.raises(MappingVersionError, match="maya proposed mapping version .* may not accept it"):
        versions.accept("acme-uk", v.mapping_hash, by="maya")
    versions.accept("acme-uk", v.mapping_hash[:12], by="carol", comment="agreed with the controller")
    assert [x.status for x in versions.all("acme-uk")] == ["superseded", "accepted"]
    # accepted: the plan under it still needs its own four eyes, then it posts with the new hash
    with pytest.raises(AwaitingApproval, match="awaiting approval: plan"):
        post(changed, MORE, xero, sqlite_store)
    approve_awaiting(sqlite_store, "acme-uk", "2026-10")
    res = post(changed, MORE, xero, sqlite_store)
    assert res.run.mapping_hash == mapping_hash(changed)
    hashes = {r["reference"]: r["mapping_hash"] for r in sqlite_store.ledger_for("acme-uk", "2026-10")}
    assert mapping_hash(changed) in hashes.values() and mapping_hash(ENTITY) in hashes.values()
    assert "mapping_accepted" in [a["action"] for a in sqlite_store.audit_entries("acme-uk")]
