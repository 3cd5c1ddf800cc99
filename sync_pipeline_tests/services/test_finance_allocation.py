"""Cost allocation on a small hand-computed dataset: each driver, the Capex/Opex split, exactness to the
cent, and a re-allocation whose earlier version stays reproducible."""

from __future__ import annotations

from sync_pipeline.contracts.finance import AllocationOverrides
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import finance
from sync_pipeline.store.finance_versions import AllocationVersions
from sync_pipeline_tests.services.finance_fixtures import ENTITY, PERIOD, clean_entries, config, shared_lines

P = Period.parse(PERIOD)


def _classified():
    return finance.classify_cost_lines(shared_lines(), config(), ENTITY)


def _alloc(result, line_id):
    df = result.allocations
    rows = df[df["line_id"] == line_id].sort_values("project_id")
    return {r.project_id: int(r.allocated_minor) for r in rows.itertuples()}


def test_lines_are_classified_once_capex_and_opex_separated_early():
    lines = _classified().set_index("line_id")
    assert lines["disposition"].to_dict() == {
        "L01": "shared", "L02": "shared", "L03": "shared", "L04": "shared", "L05": "shared",
        "L06": "capex", "L07": "direct", "L08": "unpooled", "L09": "quarantined", "L10": "shared",
    }
    assert lines.loc["L06", ["expense_class", "capitalization_code", "depreciation_code"]].tolist() == [
        "capex", "FA-IT", "SL36"]
    assert int(lines.loc["L06", "depreciation_months"]) == 36
    assert lines["pool_key"].isna()["L06"]
    assert lines.loc["L01", "expense_class"] == "opex" and lines.loc["L01", "pool_key"] == "rent"
    assert "not classified" in lines.loc["L09", "reason"]
    assert lines.loc["L04", "ic_counterparty"] == "acme-us"
    assert lines["ic_counterparty"].isna().sum() == 9


def test_capex_schedule_is_straight_line_and_exact():
    reg = finance.capex_register(_classified())
    # 1,200.00 over 36 months = 33.3333…: 120000 = 12 × 3334 + 24 × 3333 (remainder on the earliest months)
    assert len(reg) == 36 and set(reg["line_id"]) == {"L06"}
    charges = reg.sort_values("month_no")["charge_minor"].astype(int).tolist()
    assert charges[:12] == [3334] * 12 and charges[12:] == [3333] * 24 and sum(charges) == 120000
    assert reg["charge_period"].iloc[0] == "2026-10" and reg["charge_period"].iloc[-1] == "2029-09"
    assert set(reg["capitalization_code"]) == {"FA-IT"}


def test_each_driver_allocates_exactly_by_largest_remainder():
    r = finance.allocate(_classified(), clean_entries(), config(), ENTITY, P)
    # headcount: p11 has u1,u2 (2), p12 u1 (1), p21 u3 (1) → 2/4, 1/4, 1/4 of 100000
    assert _alloc(r, "L01") == {"11": 50000, "12": 25000, "21": 25000}
    # a refund follows the same key with its sign: -1000 → -500, -250, -250
    assert _alloc(r, "L05") == {"11": -500, "12": -250, "21": -250}
    # hours: 8 / 1 / 3 of 12 → 6666.67, 833.33, 2500 → floors 6666, 833, 2500 (9999); the one unit left
    # goes to the largest remainder (p11: .67)
    assert _alloc(r, "L02") == {"11": 6667, "12": 833, "21": 2500}
    # usage gb_hours: 30 / 70 of 3333 → 999.9, 2333.1 → floors 999, 2333; the unit to p11 (.9)
    assert _alloc(r, "L03") == {"11": 1000, "21": 2333}
    # fixed key 50/25/25 of 20001 → 10000.5, 5000.25, 5000.25 → the unit to p11 (.5)
    assert _alloc(r, "L04") == {"11": 10001, "12": 5000, "21": 5000}
    # each allocated row keeps the source line's identifiers and metadata
    row = r.allocations[r.allocations["line_id"] == "L04"].iloc[0]
    assert (row.document_id, row.document_number, row.line_item_id, row.account_code, row.contact_name,
            row.ic_counterparty, row.pool_key, row.driver) == (
        "doc-L04", "BILL-L04", "li-L04", "477", "Acme US Inc", "acme-us", "mgmt", "fixed_key")
    assert set(r.allocations["client_id"]) == {"1", "2"}
    # training has no seats booked: not allocated, and says why
    assert r.unallocated["line_id"].tolist() == ["L10"]
    assert "no quantity" in r.unallocated["reason"].iloc[0]
    # pool totals: allocated + unallocated = pool, to the unit
    for key, t in r.manifest["totals"].items():
        assert t["allocated"] + t["unallocated"] == t["pool"], key
    assert r.manifest["totals"]["rent GBP"] == {"pool": 99000, "allocated": 99000, "unallocated": 0}


def test_same_inputs_same_version():
    a = finance.allocate(_classified(), clean_entries(), config(), ENTITY, P)
    b = finance.allocate(_classified(), clean_entries(), config(), ENTITY, P)
    assert a.version == b.version and a.manifest["result_digest"] == b.manifest["result_digest"]


def test_reallocation_with_another_driver_keeps_the_earlier_version_reproducible(tmp_path):
    versions = AllocationVersions(tmp_path)
    first = finance.allocate(_classified(), clean_entries(), config(), ENTITY, P, created_by="schedule")
    finance.save_allocation(versions, first)

    # the accountant re-runs October with rent by hours and a new management key 1:1 between p11 and p21
    overrides = AllocationOverrides.model_validate({
        "pools": [{"key": "rent", "driver": "hours"},
                  {"key": "mgmt", "fixed_key": [{"project_id": "11", "weight": "1"},
                                                {"project_id": "21", "weight": "1"}]}],
        "usage": [{"project_id": "12", "metric": "seats", "quantity": "2"}],
        "note": "Q4 review: rent by hours",
    })
    second = finance.allocate(_classified(), clean_entries(), config(), ENTITY, P, overrides, created_by="alice")
    finance.save_allocation(versions, second)
    assert second.version != first.version
    # rent by hours 8/1/3 of 100000 → 66666.67, 8333.33, 25000 → p11 gets the unit
    assert _alloc(second, "L01") == {"11": 66667, "12": 8333, "21": 25000}
    # 20001 split 1:1 → 10000.5 each; tie on the remainder → lowest project id
    assert _alloc(second, "L04") == {"11": 10001, "21": 10000}
    # usage replaced: the cloud pool now has no gb_hours (→ unallocated), training 2 seats on p12
    assert _alloc(second, "L10") == {"12": 5000}
    assert sorted(second.unallocated["line_id"]) == ["L03"]
    # unchanged pools allocate as before
    assert _alloc(second, "L02") == _alloc(first, "L02")

    stored = [m["version"] for m in versions.manifests(ENTITY, PERIOD)]
    assert sorted(stored) == sorted([first.version, second.version])
    again = finance.reproduce_allocation(versions, ENTITY, PERIOD, first.version)
    assert again.identical, again.explain()
    assert _alloc(finance.AllocationResult(first.version, again.allocations, first.unallocated, first.drivers,
                                           {}, {}), "L01") == {"11": 50000, "12": 25000, "21": 25000}
    assert finance.reproduce_allocation(versions, ENTITY, PERIOD, second.version).identical
    manifest = versions.load(ENTITY, PERIOD, second.version)[1]
    assert manifest["note"] == "Q4 review: rent by hours" and manifest["created_by"] == "alice"
    assert {p["key"]: p["driver"] for p in manifest["pools"]}["rent"] == "hours"


def test_versions_live_in_an_object_store_warehouse_too():
    import uuid

    from sync_pipeline.store.warehouse import Warehouse

    versions = AllocationVersions(Warehouse(f"memory://finance-{uuid.uuid4().hex}"))
    r = finance.allocate(_classified(), clean_entries(), config(), ENTITY, P, created_by="test")
    finance.save_allocation(versions, r)
    assert [m["version"] for m in versions.manifests(ENTITY, PERIOD)] == [r.version]
    assert finance.reproduce_allocation(versions, ENTITY, PERIOD, r.version).identical
