"""A folder of CSV exports: a newer export of a person's dates supersedes the older rows it covers (listed, never
silently gone); every row ends in one place: entry, quarantine, outside the period or superseded (also as a
property over generated folders)."""

from __future__ import annotations

import os
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.csv_folder import import_csv_folder
from sync_pipeline.domain.periods import Period
from sync_pipeline_tests.connectors.test_csv_exports import HEADER

OCT = Period.parse("2026-10")


def _row(day: str, first: str, hours: str, notes: str = "Work") -> str:
    return (f'{day},Acme Corp,Acme Website,ACM-WEB,Development,{notes},"{hours}",2,Yes,No,Yes,{first},Archer,,'
            f'Yes,100,0,50,0,British Pound - GBP,')


def _export(path, rows: list[str], mtime: int) -> None:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    os.utime(path, (mtime, mtime))


def test_a_corrected_re_export_replaces_the_rows_it_covers_and_never_adds(tmp_path):
    first = [_row("2026-10-05", "Alice", "2.5"), _row("2026-10-06", "Alice", "3.0"), _row("2026-10-20", "Alice", "1"),
             _row("2026-10-06", "Bob", "4.0")]
    # the corrected export is named so it sorts first: order is by modification time, not by name
    _export(tmp_path / "b-first.csv", first, 1_000)
    _export(tmp_path / "a-corrected.csv", [_row("2026-10-05", "Alice", "2.0"), _row("2026-10-06", "Alice", "3.0")],
            2_000)
    imp = import_csv_folder(tmp_path, "harvest", OCT)
    got = sorted((r.user_name, r.spent_date, r.hours) for r in imp.entries.itertuples())
    assert got == [("Alice Archer", "2026-10-05", Decimal("2.0")), ("Alice Archer", "2026-10-06", Decimal("3.0")),
                   ("Alice Archer", "2026-10-20", Decimal("1")),  # outside Alice's corrected dates: kept
                   ("Bob Archer", "2026-10-06", Decimal("4.0"))]  # Bob is not in the corrected export: kept
    sup = imp.superseded
    assert sorted(zip(sup["file"], sup["row"], sup["spent_date"], sup["superseded_by"], strict=True)) == [
        ("b-first.csv", 2, "2026-10-05", "a-corrected.csv"), ("b-first.csv", 3, "2026-10-06", "a-corrected.csv")]
    assert imp.quarantine.empty and imp.outside_period == 0
    assert imp.files == ("b-first.csv (utf-8, comma)", "a-corrected.csv (utf-8, comma)")


def test_the_same_export_twice_is_counted_once(tmp_path):
    rows = [_row("2026-10-05", "Alice", "2.5"), _row("2026-10-05", "Alice", "2.5")]  # an exact repeat: two entries
    _export(tmp_path / "one.csv", rows, 1_000)
    _export(tmp_path / "copy.csv", rows, 2_000)
    imp = import_csv_folder(tmp_path, "harvest", OCT)
    assert len(imp.entries) == 2 and imp.entries["entry_id"].is_unique
    assert list(imp.superseded["file"]) == ["one.csv", "one.csv"]


def test_every_row_ends_in_exactly_one_place(tmp_path):
    _export(tmp_path / "old.csv", [_row("2026-10-05", "Alice", "2"), _row("2026-09-30", "Alice", "1"),
                                   _row("2026-10-07", "Alice", "x")], 1_000)
    _export(tmp_path / "new.csv", [_row("2026-10-05", "Alice", "2.25"), _row("2026-10-09", "Bob", "1,5")], 2_000)
    imp = import_csv_folder(tmp_path, "harvest", OCT)
    quarantined = sorted(zip(imp.quarantine["file"], imp.quarantine["row"], strict=True))  # one problem each
    assert quarantined == [("new.csv", 3), ("old.csv", 4)]
    assert "ambiguous" in imp.quarantine.set_index("file").loc["new.csv", "problem"]
    # old: 3 rows = 1 superseded (10-05) + 1 outside the period (09-30) + 1 quarantined; new: 1 entry + 1 quarantined
    assert list(imp.superseded["row"]) == [2] and imp.outside_period == 1
    assert list(imp.entries["hours"]) == [Decimal("2.25")]


# -- property: a folder of exports, every row in exactly one place, nothing a newer export covers is billed ---
ROWS = st.lists(st.tuples(st.sampled_from(["Alice", "Bob", "Cy"]), st.integers(1, 12),
                          st.sampled_from(["1", "2.5", "0.25", "1,5", "x", "1e400"])), max_size=8)


@given(st.lists(ROWS, min_size=1, max_size=3))
def test_every_row_of_a_folder_ends_in_one_place_and_newer_exports_win(tmp_path_factory, exports):
    folder = tmp_path_factory.mktemp("exports")
    for i, rows in enumerate(exports):  # export i is older than export i + 1
        _export(folder / f"e{i}.csv", [_row(f"2026-{9 + (d > 10):02d}-{d:02d}", who, h) for who, d, h in rows],
                1_000 * (i + 1))
    imp = import_csv_folder(folder, "harvest", OCT)
    readable = [[(who, d) for who, d, h in rows if h in ("1", "2.5", "0.25")] for rows in exports]
    expected_superseded = 0
    for i, rows in enumerate(readable):
        for who, d in rows:
            newer = [[x for w, x in readable[j] if w == who] for j in range(i + 1, len(readable))]
            expected_superseded += any(days and min(days) <= d <= max(days) for days in newer)
    total = sum(len(rows) for rows in exports)
    quarantined = len(imp.quarantine[["file", "row"]].drop_duplicates())
    assert quarantined == total - sum(len(r) for r in readable)
    assert len(imp.superseded) == expected_superseded
    assert len(imp.entries) + quarantined + len(imp.superseded) + imp.outside_period == total
    assert imp.entries["entry_id"].is_unique
