"""The purge on a small warehouse: what is past retention goes, what holds, tax or open documents keep stays."""

from datetime import date
from decimal import Decimal

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sync_pipeline.contracts.retention import load_retention_config
from sync_pipeline.defs import settings
from sync_pipeline.services import retention
from sync_pipeline.store import audit
from sync_pipeline.store.legal_holds import HoldError, LegalHolds
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse

PEOPLE = ["Alice Archer", "Bob Baker"]


def entries(period: str) -> pd.DataFrame:
    return pd.DataFrame({"entry_id": ["1", "2"], "user_id": ["1", "2"], "user_name": PEOPLE,
                         "notes": [f"{p} on the website" for p in PEOPLE], "spent_date": [f"{period}-03"] * 2,
                         "hours": [Decimal("1.50"), Decimal("2.00")], "approved_by": ["Carol Chen", None]})


@pytest.fixture
def world(tmp_path):
    wh = Warehouse(tmp_path / "warehouse")
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    for entity, period in [("acme-uk", "2018-03"), ("acme-uk", "2023-05"), ("acme-uk", "2026-10"),
                           ("globex-de", "2018-03"), ("held-uk", "2018-03"), ("open-uk", "2018-03")]:
        wh.write("raw_time_entries", entity, period, entries(period))
    wh.write("fx_rates", "acme-uk", "2018-03", pd.DataFrame({"currency": ["EUR"], "rate": ["1.1"]}))
    wh.write("scratch", "acme-uk", "2018-03", pd.DataFrame({"x": [1]}))  # unclassified: never purged
    store.record_pending(invoice_key="k1", entity="open-uk", period="2018-03", client_id="1", revision=1,
                         reference="R1", payload_hash="h", idempotency_key="i", triggered_by="t")
    store.record_posted("k1", "x1", "INV-1", target_status="AUTHORISED")  # unpaid: open
    store.record_pending(invoice_key="k2", entity="acme-uk", period="2018-03", client_id="1", revision=1,
                         reference="R2", payload_hash="h", idempotency_key="i", triggered_by="t")
    store.record_posted("k2", "x2", "INV-2", target_status="PAID")
    LegalHolds(store).set("held-uk", period="2018-03", reason="claim 2026/14", by="paula")
    cfg = load_retention_config(settings.retention_config_path())
    policy = cfg.policy({"acme-uk": "GB", "held-uk": "GB", "open-uk": "GB", "globex-de": "DE"})
    yield wh, store, policy, dict(cfg.assets)
    store.dispose()


def by_partition(items):
    return {(i.asset, i.entity, i.period): i for i in items}


def test_the_plan_respects_holds_open_documents_and_tax_retention(world):
    wh, store, policy, assets = world
    plan = by_partition(retention.plan(wh, store, policy, assets, date(2026, 12, 7)))
    assert plan["raw_time_entries", "acme-uk", "2018-03"].action == "delete"  # GB 6 y from 2019-01-01
    assert plan["raw_time_entries", "acme-uk", "2023-05"].action == "anonymize"  # 2 y of identity, 6 of tax
    assert plan["raw_time_entries", "acme-uk", "2026-10"].action == "keep"
    assert plan["raw_time_entries", "globex-de", "2018-03"].action == "anonymize"  # DE: 10 years
    held = plan["raw_time_entries", "held-uk", "2018-03"]
    assert (held.action, held.reason.startswith("under legal hold: hold #1")) == ("keep", True)
    assert "claim 2026/14" in held.reason
    opened = plan["raw_time_entries", "open-uk", "2018-03"]
    assert (opened.action, opened.reason) == ("keep", "referenced by 1 open (unpaid) document(s)")
    assert plan["fx_rates", "acme-uk", "2018-03"].action == "delete"
    assert plan["scratch", "acme-uk", "2018-03"].action == "keep"
    assert plan["scratch", "acme-uk", "2018-03"].reason.startswith("unclassified asset")


def test_a_dry_run_changes_nothing_and_is_on_record(world):
    wh, store, policy, assets = world
    before = sorted(p.name for p in wh.root.rglob("*.parquet"))
    items = retention.plan(wh, store, policy, assets, date(2026, 12, 7))
    s = retention.apply(items, wh, store, actor="paula", dry_run=True, today=date(2026, 12, 7))
    assert sorted(p.name for p in wh.root.rglob("*.parquet")) == before
    assert (s["deleted"], s["anonymized"], s["kept_by_hold"], s["kept_open_documents"]) == (2, 2, 1, 1)
    ev = audit.events(store, action="retention_purge_dry_run")[-1]
    assert ev.actor == "paula" and ev.detail["deleted"] == 2 and len(ev.detail["touched"]) == 4


def test_the_purge_deletes_and_anonymizes_keeping_amounts(world):
    wh, store, policy, assets = world
    items = retention.plan(wh, store, policy, assets, date(2026, 12, 7))
    retention.apply(items, wh, store, actor="paula", dry_run=False, today=date(2026, 12, 7))
    assert not wh.exists("raw_time_entries", "acme-uk", "2018-03") and not wh.exists("fx_rates", "acme-uk", "2018-03")
    for entity, period in [("acme-uk", "2023-05"), ("globex-de", "2018-03")]:
        df = wh.read("raw_time_entries", entity, period)
        text = df.astype(str).to_string()
        assert not any(n in text for n in [*PEOPLE, "Carol Chen"]), text
        assert list(df["hours"]) == [Decimal("1.50"), Decimal("2.00")]  # amounts stay
        assert df["user_id"].nunique() == 2  # the same person is the same stand-in within the partition
        assert retention.is_anonymized(wh.path("raw_time_entries", entity, period))
    for entity in ("held-uk", "open-uk"):  # untouched, names and all
        assert list(wh.read("raw_time_entries", entity, "2018-03")["user_name"]) == PEOPLE
    assert pq.read_table(wh.path("raw_time_entries", "acme-uk", "2026-10")).column("user_name").to_pylist() == PEOPLE
    ev = audit.events(store, action="retention_purge")[-1]
    assert ev.detail["rows_deleted"] == 3 and ev.detail["rows_anonymized"] == 4
    # the next purge has nothing left to do on those partitions
    again = by_partition(retention.plan(wh, store, policy, assets, date(2026, 12, 7)))
    assert again["raw_time_entries", "acme-uk", "2023-05"].action == "keep"


def test_legal_holds_are_set_listed_and_released_on_record(world):
    _, store, _, _ = world
    holds = LegalHolds(store)
    h = holds.set("acme-uk", reason="tax audit 2027", by="paula", person="1")
    assert [x.id for x in holds.covering("acme-uk", "2020-01", person="1")] == [h.id]
    assert holds.covering("acme-uk", "2020-01", person="2") == []
    released = holds.release(h.id, by="paula", reason="audit closed")
    assert not released.active and released.released_by == "paula"
    assert h.id not in [x.id for x in holds.all()] and h.id in [x.id for x in holds.all(active_only=False)]
    with pytest.raises(HoldError, match="already released"):
        holds.release(h.id, by="paula", reason="again")
    with pytest.raises(HoldError, match="needs a reason"):
        holds.set("acme-uk", reason=" ", by="paula")
    actions = [e.action for e in audit.events(store) if e.action.startswith("legal_hold")]
    assert actions == ["legal_hold_set", "legal_hold_set", "legal_hold_released"]
    assert audit.verify(store) == []
