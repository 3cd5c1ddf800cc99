"""Archives: Parquet plus a SHA-256 manifest chained to the audit trail; a flipped byte is caught and named."""

import json
import os
import stat

import pandas as pd
import pytest

from sync_pipeline.services import archive
from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse


@pytest.fixture
def made(tmp_path):
    wh = Warehouse(tmp_path / "warehouse")
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    wh.write("posted_invoices", "acme-uk", "2026-08", pd.DataFrame({"invoice_number": ["INV-1", "INV-2"],
                                                                      "total_minor": [12000, 3050]}))
    wh.write("raw_time_entries", "acme-uk", "2026-08", pd.DataFrame({"entry_id": ["1"], "hours": ["1.5"]}))
    wh.write("raw_time_entries", "acme-uk", "2026-09", pd.DataFrame({"entry_id": ["9"], "hours": ["9"]}))
    store.record_pending(invoice_key="k1", entity="acme-uk", period="2026-08", client_id="1", revision=1,
                         reference="R1", payload_hash="h", idempotency_key="i", triggered_by="t")
    v = archive.create(wh, store, tmp_path / "archive", "acme-uk", "2026-08", actor="olga")
    yield wh, store, v
    store.dispose()


def test_an_archive_holds_the_period_and_its_hashes(made):
    wh, store, v = made
    assert v.ok, v.problems
    names = sorted(f["path"] for f in v.manifest["files"])
    assert names == ["store/sync_ledger.parquet", "warehouse/posted_invoices.parquet",
                     "warehouse/raw_time_entries.parquet"]  # 2026-09 is not in it
    assert all(len(f["sha256"]) == 64 for f in v.manifest["files"])
    ev = audit.events(store, action="archive_created")[-1]
    assert ev.actor == "olga" and ev.detail["files"] == 3 and ev.detail["rows"] == 4
    for p in [v.folder, *v.folder.rglob("*")]:
        assert stat.S_IMODE(os.stat(p).st_mode) == (0o700 if p.is_dir() else 0o600), p
    assert archive.read(v.folder, "posted_invoices", store).column("total_minor").to_pylist() == [12000, 3050]
    assert archive.read(v.folder, "sync_ledger", store).column("reference").to_pylist() == ["R1"]


def test_one_flipped_byte_is_caught_naming_the_file(made):
    wh, store, v = made
    target = v.folder / "warehouse" / "posted_invoices.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    found = archive.verify(v.folder, store)
    assert [(p.file, p.kind) for p in found.problems] == [("warehouse/posted_invoices.parquet", "altered")]
    with pytest.raises(archive.ArchiveError, match="warehouse/posted_invoices.parquet: altered"):
        archive.read(v.folder, "raw_time_entries", store)
    with pytest.raises(archive.ArchiveError, match="failed verification, refused"):
        archive.restore(v.folder, wh, store, actor="olga")


def test_a_rewritten_manifest_a_missing_and_an_extra_file_are_named(made):
    _, store, v = made
    m = json.loads((v.folder / "manifest.json").read_text())
    m["files"] = [f for f in m["files"] if f["name"] != "sync_ledger"]  # hide the ledger file …
    (v.folder / "manifest.json").write_text(json.dumps(m))
    (v.folder / "warehouse" / "raw_time_entries.parquet").unlink()
    kinds = {(p.file, p.kind) for p in archive.verify(v.folder, store).problems}
    assert kinds == {("warehouse/raw_time_entries.parquet", "missing"), ("store/sync_ledger.parquet", "unexpected"),
                     ("manifest.json", "chain")}  # … the audit trail remembers the manifest's hash


def test_restore_puts_a_lost_partition_back_and_keeps_live_ones(made):
    wh, store, v = made
    os.unlink(wh.path("posted_invoices", "acme-uk", "2026-08"))
    wh.write("raw_time_entries", "acme-uk", "2026-08", pd.DataFrame({"entry_id": ["1", "2"], "hours": ["1", "2"]}))
    assert archive.restore(v.folder, wh, store, actor="olga") == ["posted_invoices"]
    assert list(wh.read("posted_invoices", "acme-uk", "2026-08")["total_minor"]) == [12000, 3050]
    assert len(wh.read("raw_time_entries", "acme-uk", "2026-08")) == 2  # the live one kept
    assert audit.events(store, action="archive_restored")[-1].detail["restored"] == ["posted_invoices"]


def test_an_archive_is_not_made_twice_or_from_nothing(made, tmp_path):
    wh, store, v = made
    with pytest.raises(archive.ArchiveError, match="already holds an archive"):
        archive.create(wh, store, tmp_path / "archive", "acme-uk", "2026-08", actor="olga")
    with pytest.raises(archive.ArchiveError, match="no partition of acme-uk 2019-01"):
        archive.create(wh, store, tmp_path / "archive", "acme-uk", "2019-01", actor="olga")
