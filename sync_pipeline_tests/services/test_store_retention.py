"""The purge reaches the operational store too: matching decisions, hours decisions and dead letters past
retention are anonymized or deleted, never under legal hold, within tax retention or with an open document."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from sync_pipeline.contracts.retention import load_retention_config
from sync_pipeline.defs import settings
from sync_pipeline.services import retention
from sync_pipeline.store import audit
from sync_pipeline.store.dead_letters import DeadLetters, dead_letters
from sync_pipeline.store.hours_reviews import HoursReviews, hours_day_decisions
from sync_pipeline.store.legal_holds import LegalHolds
from sync_pipeline.store.matching_log import MatchingLog, cash_allocations, cash_decisions
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse


def _decision(line_id: str) -> dict:
    return {"line_id": line_id, "outcome": "auto_settled", "rule": "exact_reference", "confidence": 1.0,
            "line_amount_minor": 12000, "line_currency": "GBP", "payer_name": "Carol Chen",
            "description": "INV-1 from Carol Chen", "explanation": {"payer": "Carol Chen"},
            "candidates": [{"invoice_id": "I-1"}],
            "allocations": [{"invoice_id": "I-1", "invoice_number": "INV-1", "contact_name": "Chen Design",
                             "applied_minor": 12000, "currency": "GBP", "line_share_minor": 12000}]}


@pytest.fixture
def world(tmp_path):
    wh = Warehouse(tmp_path / "warehouse")
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    log, hours = MatchingLog(store), HoursReviews(store)
    for entity, period in [("acme-uk", "2018-03"), ("acme-uk", "2023-05"), ("acme-uk", "2026-10"),
                           ("held-uk", "2018-03"), ("open-uk", "2018-03")]:
        log.record(entity, period, [_decision(f"090:{entity}:{period}")], actor="mia")
        hours.decide(entity, "3", date.fromisoformat(f"{period}-05"), Decimal("12"), "release",
                     note="Carol Chen covered for Bob Baker", actor="mia")
    hours.decide("person-uk", "3", date(2018, 3, 5), Decimal("12"), "release", note="Carol Chen", actor="mia")
    hours.decide("person-uk", "4", date(2018, 3, 6), Decimal("12"), "release", note="Bob Baker", actor="mia")
    DeadLetters(store).park(entity="acme-uk", period="2010-01", doc_key="k0", kind="invoice", operation="create",
                            reference="R0", payload={"approved_by": "Carol Chen"}, error="refused")
    store.record_pending(invoice_key="k1", entity="open-uk", period="2018-03", client_id="1", revision=1,
                         reference="R1", payload_hash="h", idempotency_key="i", triggered_by="t")
    store.record_posted("k1", "x1", "INV-1", target_status="AUTHORISED")  # unpaid: open
    LegalHolds(store).set("held-uk", period="2018-03", reason="claim 2026/14", by="paula")
    LegalHolds(store).set("person-uk", person="3", reason="Carol's tribunal claim", by="paula")
    cfg = load_retention_config(settings.retention_config_path())
    policy = cfg.policy({e: "GB" for e in ("acme-uk", "held-uk", "open-uk", "person-uk")})
    yield wh, store, policy, cfg
    store.dispose()


def _plan(world, today):
    wh, store, policy, cfg = world
    items = retention.plan(wh, store, policy, dict(cfg.assets), today, store_tables=dict(cfg.store_tables))
    return {(i.asset, i.entity, i.period): i for i in items if i.where == "store"}


def test_store_records_are_planned_like_partitions(world):
    plan = _plan(world, date(2026, 12, 7))
    assert plan["cash_decisions", "acme-uk", "2023-05"].action == "anonymize"  # bank: 2 y of identity
    assert plan["cash_decisions", "acme-uk", "2026-10"].action == "keep"
    assert plan["hours_day_decisions", "acme-uk", "2023-05"].action == "anonymize"
    assert plan["dead_letters", "acme-uk", "2010-01"].action == "delete"  # GB tax retention 6 y from 2011
    assert plan["cash_decisions", "held-uk", "2018-03"].reason.startswith("under legal hold")
    assert plan["hours_day_decisions", "open-uk", "2018-03"].reason.startswith("referenced by 1 open")
    # a hold on one person keeps the rows of the periods holding rows about them
    assert plan["hours_day_decisions", "person-uk", "2018-03"].action == "keep"
    # the matching history is append-only and references its decisions: anonymized, never deleted
    assert plan["cash_decisions", "acme-uk", "2018-03"].action == "anonymize"


def test_the_purge_anonymizes_and_deletes_store_rows_keeping_amounts_and_says_so(world):
    wh, store, policy, cfg = world
    items = retention.plan(wh, store, policy, dict(cfg.assets), date(2026, 12, 7), store_tables=dict(cfg.store_tables))
    summary = retention.apply(items, wh, store, actor="paula", dry_run=False, today=date(2026, 12, 7))
    with store.engine.connect() as c:
        rows = {(r.entity, r.period): r for r in c.execute(sa.select(cash_decisions))}
        hours_rows = {(r.entity, r.day[:7], r.user_id): r for r in c.execute(sa.select(hours_day_decisions))}
        letters = c.execute(sa.select(dead_letters)).all()
        allocations = c.execute(sa.select(sa.func.sum(cash_allocations.c.applied_minor))).scalar()
    old = rows["acme-uk", "2023-05"]
    assert old.payer_name.startswith("anon-") and old.description.startswith("anon-")
    assert (old.explanation, old.candidates, old.line_amount_minor) == ("{}", "[]", 12000)
    assert rows["acme-uk", "2026-10"].payer_name.startswith("enc1:")  # kept, still encrypted
    assert rows["held-uk", "2018-03"].payer_name.startswith("enc1:")
    assert allocations == 12000 * 5  # amounts untouched: totals and reconciliation hold
    anon_hours = [r for k, r in hours_rows.items() if k[:2] == ("acme-uk", "2023-05")]
    assert len(anon_hours) == 1 and anon_hours[0].user_id.startswith("anon-") and anon_hours[0].note.startswith("anon-")
    assert ("person-uk", "2018-03", "3") in hours_rows and ("open-uk", "2018-03", "3") in hours_rows
    assert letters == []
    assert MatchingLog(store).decisions(entity="acme-uk", period="2023-05")[0]["explanation"] == {}  # still reads
    [event] = audit.events(store, action="retention_purge")
    stored = [t for t in event.detail["touched"] if t["where"] == "store"]
    assert {(t["asset"], t["action"]) for t in stored} >= {("cash_decisions", "anonymize"),
                                                          ("hours_day_decisions", "anonymize"),
                                                          ("dead_letters", "delete")}
    # deleted: the 2010 dead letter and the 2018 hours decision (GB: 6 years of tax retention from 2019)
    assert ("acme-uk", "2018-03", "3") not in hours_rows
    assert summary["store_rows_deleted"] == 2 and summary["store_rows_anonymized"] >= 3
    # a second purge finds nothing more to do
    again = retention.plan(wh, store, policy, dict(cfg.assets), date(2026, 12, 7), store_tables=dict(cfg.store_tables))
    assert not [i for i in again if i.where == "store" and i.action != "keep"]
