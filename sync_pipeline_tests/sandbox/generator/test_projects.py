"""The project-side generator: deterministic, streamed, messy in the listed ways, and its two sinks (Harvest
sandbox, raw_time_entries Parquet) agree with each other and with the contract."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd
import pytest

from sync_pipeline.connectors.harvest import flatten_time_entry
from sync_pipeline.contracts.warehouse import RawTimeEntry
from sync_pipeline.sandbox.generator.projects import World, load_harvest, write_raw_time_entries
from sync_pipeline.sandbox.harvest import HarvestSandbox
from sync_pipeline.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=11, entries=12_000)


@pytest.fixture(scope="module")
def docs(world: World) -> list[dict]:
    return list(world.time_entry_docs(chunk=7_000))


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = World(5, 2_000), World(5, 2_000), World(6, 2_000)
    first_a, first_b, first_c = next(a.chunks(500)), next(b.chunks(500)), next(c.chunks(500))
    assert all(np.array_equal(first_a[k], first_b[k]) for k in first_a)
    assert not np.array_equal(first_a["centi"], first_c["centi"])
    assert [d["name"] for d in a.client_docs()] == [d["name"] for d in b.client_docs()]
    # the rows do not depend on the chunk size, and a block regenerates alone
    small = np.concatenate([c["centi"] for c in World(5, 14_000).chunks(3_000)])
    large = np.concatenate([c["centi"] for c in World(5, 14_000).chunks(14_000)])
    assert np.array_equal(small, large)
    assert np.array_equal(World(5, 14_000)._chunk(1, 10_000, 4_000)["centi"], large[10_000:])


def test_scales_down_to_a_handful_and_streams_in_chunks() -> None:
    tiny = World(1, 7)
    assert sum(len(c["id"]) for c in tiny.chunks(3)) == 7
    assert [len(c["id"]) for c in World(1, 25_000).chunks(10_000)] == [10_000, 10_000, 5_000]


def test_reference_data_mess(world: World) -> None:
    clients = world.client_docs()
    names = [c["name"] for c in clients]
    assert {"Acme Corp", "ACME Corporation"} <= set(names) or {"Acme Corp", "Acme, Inc."} <= set(names)
    assert {c["currency"] for c in clients} >= {"USD", "EUR", "GBP", "JPY", "CHF"} - {"JPY", "CHF"}
    projects = world.project_docs()
    assert any(p["code"] is None and p["is_billable"] for p in projects)
    assert any(not p["is_billable"] for p in projects)  # internal
    assert any(p["is_fixed_fee"] and p["fee"] for p in projects)
    assert any(p["x_retainer"] for p in projects)
    tas = world.task_assignment_docs()
    assert any(len(t["x_rate_history"]) > 1 for t in tas)
    uas = world.user_assignment_docs()
    assert any(not u["use_default_rates"] for u in uas) and any(u["use_default_rates"] for u in uas)
    assert len({u["timezone"] for u in world.user_docs()}) >= 4


def test_time_entry_mess(world: World, docs: list[dict]) -> None:
    hours = [d["hours"] for d in docs]
    assert any(h == 0 for h in hours) and any(h < 0 for h in hours) and any(h > 24 for h in hours)
    assert 0.03 < sum(not d["is_closed"] for d in docs) / len(docs) < 0.15
    assert any(d["is_billed"] and d["invoice"] for d in docs)
    late = [d for d in docs if "x_billed_hours" in d]
    assert late and all(d["is_billed"] and d["updated_at"] > d["created_at"] for d in late)
    assert {d["client"]["currency"] for d in docs} >= {"USD", "EUR", "GBP"}
    assert any(d["billable_rate"] is None for d in docs) or any(not d["billable"] for d in docs)
    near_midnight = dst = 0
    for d in docs:
        start = datetime.fromisoformat(d["x_started_at"])
        assert start.date().isoformat() == d["spent_date"]  # spent_date is the local date
        local = datetime(start.year, start.month, start.day, start.hour, start.minute,
                         tzinfo=ZoneInfo(d["x_timezone"]))
        assert local.utcoffset() == start.utcoffset() or local.dst() != local.replace(hour=12).dst()
        near_midnight += start.hour in (23, 0)
        noon = datetime(start.year, start.month, start.day, 12, tzinfo=ZoneInfo(d["x_timezone"]))
        dst += noon.utcoffset() != start.utcoffset() or local.replace(hour=23).utcoffset() != noon.utcoffset()
    assert near_midnight > len(docs) * 0.02 and dst > 0


def test_rates_follow_their_effective_dates(world: World, docs: list[dict]) -> None:
    by_ta = {t["id"]: t for t in world.task_assignment_docs()}
    by_ua = {u["id"]: u for u in world.user_assignment_docs()}
    projects = {p["id"]: p for p in world.project_docs()}
    checked = 0
    for d in docs:
        ua = by_ua[d["user_assignment"]["id"]]
        if not ua["use_default_rates"]:
            history = ua["x_rate_history"]
        elif projects[d["project"]["id"]]["bill_by"] in ("Project", "none"):
            continue
        else:
            history = by_ta[d["task_assignment"]["id"]]["x_rate_history"]
        in_force = [h for h in history if h["effective_from"] <= d["spent_date"]][-1]["hourly_rate"]
        assert d["billable_rate"] == in_force, d
        checked += len(history) > 1
    assert checked > 100


def test_expenses_with_receipts_markup_and_refunds(world: World) -> None:
    expenses = [e for chunk in world.expense_chunks(300) for e in chunk]
    assert len(expenses) == int(12_000 * world.mess.expense_per_entry)
    assert any(e["receipt"] is None for e in expenses) and any(e["receipt"] for e in expenses)
    assert any(e["total_cost"] < 0 and e["notes"].startswith("Refund") for e in expenses)
    assert any(e["x_markup_percent"] > 0 for e in expenses)
    assert any(e["units"] is not None for e in expenses)


def test_parquet_matches_the_contract_and_the_harvest_documents(world: World, docs: list[dict],
                                                                tmp_path: Path) -> None:
    path = tmp_path / "raw.parquet"
    assert write_raw_time_entries(world, path, chunk=5_000, extracted_at="2026-11-01T00:00:00+00:00") == 12_000
    df = pd.read_parquet(path)
    RawTimeEntry.validate(df, lazy=True)
    expected = pd.DataFrame([flatten_time_entry(d, "2026-11-01T00:00:00+00:00") for d in docs])
    for col in ("entry_id", "spent_date", "user_id", "client_name", "project_code", "task_name", "billable",
                "is_closed", "notes", "updated_at"):
        assert df[col].tolist() == expected[col].tolist(), col
    assert [Decimal(str(h)) for h in df["hours"]] == [Decimal(h) for h in expected["hours"]]
    if "cost_rate" in df.columns:
        assert [Decimal(str(r)) for r in df["cost_rate"]] == [Decimal(r) for r in expected["cost_rate"]]
    rates = [None if pd.isna(r) else Decimal(str(r)) for r in df["billable_rate"]]
    assert rates == [None if r is None else Decimal(r) for r in expected["billable_rate"]]


def test_load_into_the_harvest_sandbox(tmp_path: Path) -> None:
    w = World(3, 5_000)
    sb = HarvestSandbox(str(tmp_path / "h.sqlite3"), rate_limit=0)
    counts = load_harvest(sb, w, "77", chunk=2_000)
    assert counts["time_entries"] == 5_000 and counts["expenses"] == int(5_000 * w.mess.expense_per_entry)
    with SandboxServer(sb) as server, httpx.Client(base_url=server.url, headers={
            "Authorization": f"Bearer {sb.token}", "Harvest-Account-Id": "77"}) as http:
        sb.base_url = server.url
        body = http.get("/v2/time_entries", params={"per_page": 2000}).json()
        assert body["total_entries"] == 5_000 and len(body["time_entries"]) == 2000
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", body["time_entries"][0]["spent_date"])
        first = next(w.time_entry_docs())
        assert http.get(f"/v2/time_entries/{first['id']}").json() == {
            k: (float(v) if isinstance(v, Decimal) else v) for k, v in first.items()}
        users = Counter(e["user"]["id"] for e in body["time_entries"])
        project = http.get("/v2/time_entries", params={"user_id": users.most_common(1)[0][0]}).json()
        assert project["total_entries"] >= users.most_common(1)[0][1]
