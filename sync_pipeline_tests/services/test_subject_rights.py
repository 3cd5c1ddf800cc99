"""A person's export and erasure on the demo data: every record found; afterwards no identifier anywhere
(every Parquet file, every store table), while invoice totals, conservation and reconciliation still hold."""

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.defs import settings
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.domain.periods import Period
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services import subject_rights
from sync_pipeline.services.billing import conservation_of_partition
from sync_pipeline.services.reconcile import reconcile_sync
from sync_pipeline.store import audit
from sync_pipeline.store.legal_holds import LegalHolds
from sync_pipeline.store.operational import metadata

E, P = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD


def mentions(wh_root: Path, store, pattern: str, skip_tables=()) -> list[str]:
    """Every Parquet column and store column whose text matches ``pattern``: where, and the value."""
    rx = re.compile(pattern, re.I)
    found = []
    for f in sorted(wh_root.rglob("*.parquet")):
        t = pq.read_table(f)
        for name in t.column_names:
            found += [f"{f.relative_to(wh_root)}:{name}={v!r}" for v in t.column(name).to_pylist()
                      if isinstance(v, str) and rx.search(v)]
    with store.engine.connect() as c:
        for table in metadata.sorted_tables:
            if table.name in skip_tables or not sa.inspect(c).has_table(table.name):
                continue
            for row in c.execute(sa.select(table)).mappings():
                found += [f"{table.name}.{k}={str(v)[:80]!r}" for k, v in row.items()
                          if isinstance(v, str) and rx.search(v)]
    return found


def user_rows(wh, user_id: str) -> dict[str, int]:
    out = {}
    for f in sorted(wh.root.glob("*/entity=*/period=*.parquet")):
        t = pq.read_table(f)
        if "user_id" in t.column_names:
            n = sum(1 for v in t.column("user_id").to_pylist() if v == user_id)
            if n:
                out[f.parent.parent.name] = n
    return out


@pytest.fixture
def synced(sandboxes, resources, instance, standing_approval):
    result = build_defs(resources).resolve_job_def("sync_job").execute_in_process(
        instance=instance, partition_key=partition_key(E, Period.parse(P)))
    assert result.success
    return resources["xero"], resources["warehouse"].get(), resources["opstore"].get()


def totals(wh):
    posted = wh.read("posted_invoices", E, P)
    return sorted(zip(posted["invoice_number"], posted["total_minor"].astype(str), strict=True))


def test_export_finds_every_record_and_erase_leaves_no_identifier(synced):
    xero, wh, store = synced
    alice = subject_rights.resolve(wh, store, "harvest:1")
    assert "Alice Archer" in alice.names  # from the warehouse, or the encrypted identity table
    data = subject_rights.export(wh, store, alice, actor="paula", include_dagster=False)
    exported = {x["asset"]: len(x["rows"]) for x in data["warehouse"]}
    hers = user_rows(wh, "1")
    for asset, n in hers.items():  # every row with her id is in the export
        assert exported.get(asset, 0) >= n, (asset, n, exported)
    assert exported["raw_time_entries"] == hers["raw_time_entries"] == 4 and exported["billables"] >= 1
    assert all(r.get("user_id") == "1" or any(n in str(r) for n in alice.names)
               for x in data["warehouse"] for r in x["rows"])
    assert not any("password" in k or "hash" in k for t in data["operational_store"] for r in t["rows"] for k in r)
    before = totals(wh)

    report = subject_rights.erase(wh, store, alice, actor="paula")
    assert report["counts"]["warehouse_rows"] >= 3
    assert mentions(wh.root, store, r"Alice|Archer") == []  # every Parquet file and every store table
    if alice.pseudonym:  # her pseudonym is gone from the data; her key is destroyed, so what still names the
        # pseudonym (the append-only trail, the key's tombstone, her now unreadable identity row) links to nobody
        assert report["person_key_destroyed"] is True
        kept = (*audit.APPEND_ONLY_TABLES, "person_keys", "person_identities")
        assert mentions(wh.root, store, re.escape(alice.pseudonym), skip_tables=kept) == []
        from sync_pipeline.store.protection import protector
        assert protector(store).identity(alice.pseudonym) is None
    assert user_rows(wh, "1") == {}
    # the money is untouched: totals, conservation, reconciliation against the accounting system
    assert totals(wh) == before
    assert conservation_of_partition(wh, E, P).passed
    target = xero.target(load_mapping(settings.mapping_path()).entity(E))
    try:
        rec = reconcile_sync(wh.read("invoice_drafts", E, P), entity=E, period=Period.parse(P), target=target)
    finally:
        target.close()
    assert set(rec["status"]) == {"match"}, rec[["level", "key", "status"]].to_string()
    # on record, under a reference that does not name her; the trail is intact
    ev = audit.events(store, action="subject_erased")[-1]
    assert ev.actor == "paula" and ev.subject == alice.reference and "Alice" not in ev.detail.__repr__()
    assert audit.events(store, stream=audit.ACCESS, action="subject_export")[-1].subject == alice.reference
    assert audit.verify(store) == []
    with pytest.raises(subject_rights.SubjectError, match="no person 'harvest:1'"):
        subject_rights.resolve(wh, store, "harvest:1")  # nothing left to find

    # one sync (~40 s) serves both people: the approver's erasure next
    approver_erasure_keeps_only_the_audit_trail_and_a_hold_refuses(wh, store)


def approver_erasure_keeps_only_the_audit_trail_and_a_hold_refuses(wh, store):
    carol = subject_rights.resolve(wh, store, "harvest:3")
    LegalHolds(store).set(E, person="3", reason="employment claim", by="paula")
    with pytest.raises(subject_rights.SubjectError, match="under legal hold, nothing erased.*employment claim"):
        subject_rights.erase(wh, store, carol, actor="paula")
    LegalHolds(store).release(1, by="paula", reason="claim settled")
    probe = re.escape(carol.pseudonym or "Carol Chen")  # how the warehouse names her
    dry = subject_rights.erase(wh, store, carol, actor="paula", dry_run=True)
    assert mentions(wh.root, store, probe)  # a dry run changes nothing
    report = subject_rights.erase(wh, store, carol, actor="paula")
    for k in ("warehouse_rows", "store_rows"):  # the dry run's own event names her pseudonym: one more kept
        assert report["counts"][k] == dry["counts"][k]
    # posting decisions name who approved the entries: the append-only trail keeps them, and says so
    assert [r["where"] for r in report["retained"]] == ["audit_events"]
    kept = (*audit.APPEND_ONLY_TABLES, "person_keys", "person_identities")  # the trail; the key's tombstone
    assert mentions(wh.root, store, rf"Carol|Chen|{probe}", skip_tables=kept) == []
