"""The raw_time_entries asset's own path: pages streamed to Parquet, the newest version of each entry kept in
DuckDB, the contract checked in SQL, the window compared with the stored extract; published only when valid."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from sync_pipeline.bench.extract import _entry
from sync_pipeline.connectors.harvest import HarvestClient, read_time_entry
from sync_pipeline.domain.periods import Period
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.extract import extract_time_entries, extract_time_entries_partition, window_changes
from sync_pipeline.store.warehouse import ContractViolation, Warehouse

P = Period.parse("2026-01")


def _doc(i: int, **changes) -> dict:
    doc = _entry(i)
    doc.update(changes)
    return doc


def test_the_newest_version_of_each_entry_is_kept_in_the_order_the_source_sent_them(tmp_path):
    wh = Warehouse(tmp_path)
    pages = [[_doc(0, hours=Decimal("1.0"), updated_at="2026-01-02T10:00:00Z"), _doc(10), _doc(2)],
             # entry 1 was edited while we paged: it comes again on a later page, newer
             [_doc(0, hours=Decimal("2.5"), updated_at="2026-01-02T11:00:00Z"), _doc(1)]]
    done = extract_time_entries_partition(iter(pages), wh, "acme", P)
    stored = wh.read("raw_time_entries", "acme", P.key)
    assert done["rows"] == 4 and done["pages"] == 2
    assert list(stored["entry_id"]) == ["11", "3", "1", "2"]  # entry 1 where its newest version came
    assert stored.loc[stored["entry_id"] == "1", "hours"].item() == pytest.approx(2.5)
    assert done["superseded_versions"] == 1
    assert (done["changes"].added, done["changes"].edited, done["changes"].deleted) == (4, 0, [])
    assert list(done["preview"]["entry_id"]) == ["1", "11", "2", "3"]


def test_window_changes_match_the_pandas_reconciliation(tmp_path):
    wh = Warehouse(tmp_path)
    extract_time_entries_partition(iter([[_doc(i) for i in range(6)]]), wh, "acme", P)
    before = wh.read("raw_time_entries", "acme", P.key)
    # 3 deleted at the source, 4 edited, 7 and 8 added
    pages = [[_doc(i) for i in (0, 1, 2, 5)] + [_doc(4, hours=Decimal("3.0"), updated_at="2026-02-01T00:00:00Z"),
                                                 _doc(7), _doc(8)]]
    done = extract_time_entries_partition(iter(pages), wh, "acme", P)
    after = wh.read("raw_time_entries", "acme", P.key)
    expected = window_changes(before, after)
    assert (done["changes"].deleted, done["changes"].added, done["changes"].edited) == (
        expected.deleted, len(expected.added), len(expected.edited)) == (["4"], 2, 1)
    assert done["changes"].as_metadata() == expected.as_metadata()
    assert done["superseded_versions"] == 0


def test_a_source_record_that_does_not_read_is_quarantined_alone(tmp_path):
    wh = Warehouse(tmp_path)
    bad = _doc(2, approval_status="rubber-stamped")  # not one of Harvest's approval statuses
    done = extract_time_entries_partition(iter([[_doc(0), bad, _doc(1)]]), wh, "acme", P)
    stored = wh.read("raw_time_entries", "acme", P.key).set_index("entry_id")
    assert list(stored.index) == ["1", "3", "2"] and done["quarantined"] == 1
    assert stored.loc["3", "source_problem"] == ("approval_status: expected one of unsubmitted, submitted, approved, "
                                                 "got the string 'rubber-stamped'")
    assert stored["source_problem"].drop("3").isna().all()
    assert stored.loc["3", "hours"] is None and not stored.loc["3", "billable"]  # nothing read from a bad record
    q = done["quarantine"]
    assert q[["record", "row", "field", "value"]].values.tolist() == [["3", 2, "approval_status", "'rubber-stamped'"]]


def test_a_page_that_breaks_the_contract_never_replaces_the_stored_extract(tmp_path):
    wh = Warehouse(tmp_path)
    extract_time_entries_partition(iter([[_doc(0), _doc(1)]]), wh, "acme", P)
    before = wh.path("raw_time_entries", "acme", P.key).read_bytes()

    def reader_with_a_bug(doc, extracted_at):  # a source record reads, but the row made of it is not a raw entry
        row = read_time_entry(doc, extracted_at)
        return {**row, "approval_status": "rubber-stamped"} if row["entry_id"] == "3" else row

    with pytest.raises(ContractViolation, match=r"raw_time_entries violates contract RawTimeEntry[\s\S]*approval_status"):
        extract_time_entries_partition(iter([[_doc(0), _doc(2)]]), wh, "acme", P, flatten=reader_with_a_bug)
    assert wh.path("raw_time_entries", "acme", P.key).read_bytes() == before
    assert sorted(p.name for p in wh.path("raw_time_entries", "acme", P.key).parent.iterdir()) == [
        f"period={P.key}.parquet"]


def test_the_streamed_extract_of_the_sandbox_equals_the_in_memory_one(sandboxes, tmp_path):
    """Against the Harvest sandbox over HTTP: the asset's streamed path gives the rows the pandas extract gives."""
    period = Period.parse("2026-10")
    c = HarvestClient(sandboxes.harvest_server.url, sandboxes.harvest.token, demo_data.HARVEST_ACCOUNT_ID)
    try:
        expected = extract_time_entries(c, period).drop(columns=["extracted_at"])
        wh = Warehouse(tmp_path)
        done = extract_time_entries_partition(c.time_entries(start=period.start, end=period.end), wh, "e", period)
    finally:
        c.close()
    got = wh.read("raw_time_entries", "e", period.key).drop(columns=["extracted_at"]).sort_values("entry_id")
    assert done["rows"] == len(expected) > 0
    pd.testing.assert_frame_equal(_objects(got[expected.columns]), _objects(expected))


def _objects(df: pd.DataFrame) -> pd.DataFrame:
    out = df.astype(object)
    return out.where(out.notna(), None).reset_index(drop=True)
