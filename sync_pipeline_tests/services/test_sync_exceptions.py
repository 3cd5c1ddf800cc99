"""Sync-reconciliation exceptions as people review them: listed from the warehouse with what differs, resolved (re-post,
accept, explain) with an actor and a comment in the audit trail, open again when the difference changes."""

from __future__ import annotations

import pandas as pd
import pytest

from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.contracts.warehouse import SyncReconciliation
from sync_pipeline.defs import settings
from sync_pipeline.services import sync_exceptions as se
from sync_pipeline.services.dead_letters import PostingEnv
from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.sync_resolutions import SyncResolutions
from sync_pipeline.store.warehouse import Warehouse

REF = "SP-acme-uk-2026-10-C{}-R1"


def reconciliation(entity: str, period: str, docs: list[tuple[str, str, int, int, str]]) -> pd.DataFrame:
    """Document rows (key, status, ours, theirs, detail) plus one currency row, as the asset writes them."""
    rows = [{"entity": entity, "period": period, "level": "document", "key": k, "currency": "GBP",
             "source_count": int(status != "extra"), "target_count": int(status != "missing"), "source_minor": s,
             "target_minor": t, "diff_minor": t - s, "status": status, "breach": status != "match", "detail": d}
            for k, status, s, t, d in docs]
    rows.append({"entity": entity, "period": period, "level": "currency", "key": "GBP", "currency": "GBP",
                 "source_count": 1, "target_count": 1, "source_minor": 0, "target_minor": 0, "diff_minor": 0,
                 "status": "match", "breach": False, "detail": ""})
    return pd.DataFrame(rows)


@pytest.fixture
def world(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    wh.write("sync_reconciliation", "acme-uk", "2026-10", reconciliation("acme-uk", "2026-10", [
        (REF.format(1), "match", 10000, 10000, ""),
        (REF.format(2), "mismatch", 50000, 45000, "subtotal 500.00 GBP vs 450.00 GBP"),
        (REF.format(3), "missing", 20000, 0, "drafted but not in the accounting system"),
        (REF.format(4), "extra", 0, 3000, "in the accounting system under our reference but not drafted"),
    ]), SyncReconciliation)
    wh.write("sync_reconciliation", "acme-de", "2026-09", reconciliation("acme-de", "2026-09", [
        ("SP-acme-de-2026-09-C7-R1", "match", 100, 100, "")]), SyncReconciliation)
    store = OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    return wh, store, SyncResolutions(store)


def test_open_exceptions_say_what_differs_and_skip_matches(world):
    wh, _, res = world
    rows = se.exceptions(wh, res)
    assert [(r["entity"], r["period"], r["document"], r["status"]) for r in rows] == [
        ("acme-uk", "2026-10", REF.format(2), "mismatch"), ("acme-uk", "2026-10", REF.format(3), "missing"),
        ("acme-uk", "2026-10", REF.format(4), "extra")]
    mismatch = rows[0]
    assert (mismatch["source_minor"], mismatch["target_minor"], mismatch["diff_minor"]) == (50000, 45000, -5000)
    assert mismatch["detail"] == "subtotal 500.00 GBP vs 450.00 GBP" and mismatch["state"] == "open"
    assert se.exceptions(wh, res, entity="acme-de") == []


def test_a_resolution_is_recorded_with_actor_role_comment_and_audited(world):
    wh, store, res = world
    r, effect = se.resolve(wh, res, "acme-uk", "2026-10", REF.format(2), resolution="accept",
                           comment="discount agreed with the client by phone", actor="alice", role="accountant")
    assert (r.decided_by, r.role, r.resolution) == ("alice", "accountant", "accept")
    assert "stands" in effect
    assert [x["document"] for x in se.exceptions(wh, res)] == [REF.format(3), REF.format(4)]
    resolved = se.exceptions(wh, res, state="resolved")
    assert [(x["document"], x["state"], x["resolution"].comment) for x in resolved] == [
        (REF.format(2), "accept", "discount agreed with the client by phone")]
    events = audit.events(store, action="sync_exception_accept")
    assert [(e.actor, e.entity, e.subject) for e in events] == [("alice", "acme-uk", f"2026-10/{REF.format(2)}")]
    assert events[0].detail["detail"] == "subtotal 500.00 GBP vs 450.00 GBP"
    assert audit.verify(store) == []


def test_a_new_difference_reopens_what_was_resolved(world):
    wh, _, res = world
    se.resolve(wh, res, "acme-uk", "2026-10", REF.format(2), resolution="explain", comment="credit note follows",
               actor="alice", role="accountant")
    wh.write("sync_reconciliation", "acme-uk", "2026-10", reconciliation("acme-uk", "2026-10", [
        (REF.format(2), "mismatch", 50000, 40000, "subtotal 500.00 GBP vs 400.00 GBP")]), SyncReconciliation)
    [row] = se.exceptions(wh, res)
    assert row["state"] == "open" and row["earlier"].resolution == "explain"


@pytest.mark.parametrize(("doc", "resolution", "comment", "says"), [
    (REF.format(1), "accept", "ok", "not an exception in the last reconciliation"),
    (REF.format(4), "repost", "post it", "nothing of ours to post"),
    (REF.format(2), "ignore", "x", "use one of repost, accept, explain"),
    (REF.format(3), "repost", "  ", "say why in the comment"),
])
def test_refusals_say_why(world, doc, resolution, comment, says):
    wh, store, res = world

    def unreachable(entity):
        raise AssertionError(f"a refused re-post never reaches the accounting system ({entity.key})")

    env = PostingEnv(load_mapping(settings.mapping_path()), wh, store, unreachable)
    with pytest.raises(se.ResolutionError, match=None) as e:
        if resolution == "repost":
            se.repost(env, wh, res, "acme-uk", "2026-10", doc, comment=comment, actor="alice", role="accountant")
        else:
            se.resolve(wh, res, "acme-uk", "2026-10", doc, resolution=resolution, comment=comment, actor="alice",
                       role="accountant")
    assert says in str(e.value)
    assert audit.events(store, action=f"sync_exception_{resolution}") == []


def test_a_re_post_is_not_a_mere_record(world):
    wh, store, res = world
    with pytest.raises(se.ResolutionError, match="posts the period again"):
        se.resolve(wh, res, "acme-uk", "2026-10", REF.format(3), resolution="repost", comment="post it",
                   actor="alice", role="accountant")
    with pytest.raises(se.ResolutionError, match="started without the accounting system.*posting run --entity acme-uk"):
        se.repost(None, wh, res, "acme-uk", "2026-10", REF.format(3), comment="post it", actor="alice",
                  role="accountant")
    assert audit.events(store, action="sync_exception_repost") == []


def test_a_re_post_that_did_not_post_leaves_the_exception_open_with_why(world):
    wh, _, res = world
    row = se.find(wh, res, "acme-uk", "2026-10", REF.format(3))
    res.resolve("acme-uk", "2026-10", REF.format(3), status=row["status"], detail=row["detail"], resolution="repost",
                comment="post it", actor="alice", role="accountant", outcome="blocked",
                error="posting is paused for acme-uk", run_id="workbench-1")
    [open_row] = [r for r in se.exceptions(wh, res) if r["document"] == REF.format(3)]
    assert open_row["state"] == "open" and open_row["attempt"].error == "posting is paused for acme-uk"
    res.resolve("acme-uk", "2026-10", REF.format(3), status=row["status"], detail=row["detail"], resolution="repost",
                comment="post it", actor="alice", role="accountant", outcome="posted", document_number="INV-0042",
                run_id="workbench-2")
    [done] = [r for r in se.exceptions(wh, res, state="resolved") if r["document"] == REF.format(3)]
    assert (done["state"], done["resolution"].document_number, done["attempt"]) == ("repost", "INV-0042", None)
