"""The billing assets' own path: a stored partition is billed file to file in DuckDB (``billing.*_partition``).

What the golden datasets cannot show: a file that breaks its contract is never published (the partition
that was there stays, byte for byte), an object-store warehouse takes the same path through a local copy,
and the entries never come to pandas (the draft lines do).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pandas as pd
import pyarrow
import pytest

from sync_pipeline.contracts.warehouse import FxRateRow, RawTimeEntry
from sync_pipeline.services import billing
from sync_pipeline.services import fx as fx_service
from sync_pipeline.store.sql import SQL_DIR, SqlModels
from sync_pipeline.store.warehouse import ContractViolation, Warehouse, WarehouseError, arrow_schema
from sync_pipeline_tests.billing.helpers import AFTER_OCT, OCT, entity, entry, raw_frame


def _stored(root: str, rows: list[dict]) -> Warehouse:
    wh = Warehouse(root)
    raw = raw_frame(rows)
    wh.write_arrow("raw_time_entries", "acme-uk", OCT.key,
                   pyarrow.Table.from_pandas(raw, schema=arrow_schema(RawTimeEntry), preserve_index=False))
    wh.write("fx_rates", "acme-uk", OCT.key, pd.DataFrame(columns=fx_service.FX_COLUMNS), FxRateRow)
    return wh


ROWS = [entry("e1", hours="1.5"), entry("e2", hours="-1"), entry("e3", hours="2", approved=False),
        entry("e4", hours="0.5", rate="90")]


def test_the_partition_path_bills_and_reports_from_sql(tmp_path):
    ent = entity()
    wh = _stored(str(tmp_path), ROWS)
    done = billing.clean_time_entries_partition(wh, ent, OCT, AFTER_OCT)
    assert done["rows"] == 4
    assert done["dispositions"] == {"billable": 2, "held": 1, "quarantined": 1}
    assert list(done["quarantined"]["entry_id"]) == ["e2"]
    assert done["quarantined"]["reason"][0] == "non-positive hours -1.000000"
    bills = billing.billables_partition(wh, ent, OCT, AFTER_OCT)
    # no rate cards: the project system's rates, e1 1.5 h x 100 + e4 0.5 h x 90 = 195 (exact, 12 dp)
    assert bills["rows"] == 2 and list(bills["preview"]["entry_id"]) == ["e1", "e4"]
    assert bills["value_per_currency"] == {"GBP": "195.000000000000"}
    drafts = billing.invoice_drafts_partition(wh, ent, OCT, AFTER_OCT)
    assert sorted(",".join(sorted(drafts["source_entry_ids"])).split(",")) == ["e1", "e4"]


def _breaking_models(tmp_path: Path) -> SqlModels:
    """The real models, except that clean_time_entries calls every entry 'bogus' (not in the contract)."""
    folder = tmp_path / "sql"
    shutil.copytree(SQL_DIR, folder)
    model = folder / "clean_time_entries.sql"
    text = model.read_text(encoding="utf-8")
    disposition = "billing_disposition(quarantine_reason, non_billable_reason, $require_approval, is_closed)"
    assert disposition in text
    model.write_text(text.replace(disposition, "'bogus'"), encoding="utf-8")
    return SqlModels(folder)


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_a_file_that_breaks_its_contract_is_never_published(kind, tmp_path):
    root = str(tmp_path / "wh") if kind == "local" else f"memory://sp-{uuid.uuid4().hex[:8]}/wh"
    ent = entity()
    wh = _stored(root, ROWS)
    billing.clean_time_entries_partition(wh, ent, OCT, AFTER_OCT)
    with wh.local_file("clean_time_entries", "acme-uk", OCT.key) as f:
        before = f.read_bytes()
    with pytest.raises(ContractViolation, match=r"clean_time_entries violates contract CleanTimeEntry[\s\S]*bogus"):
        billing.clean_time_entries_partition(wh, ent, OCT, AFTER_OCT, models=_breaking_models(tmp_path))
    with wh.local_file("clean_time_entries", "acme-uk", OCT.key) as f:
        assert f.read_bytes() == before
    if kind == "local":  # no temp file left beside the partition
        assert [p.name for p in (tmp_path / "wh" / "clean_time_entries" / "entity=acme-uk").iterdir()] == [
            f"period={OCT.key}.parquet"]


def test_an_object_store_partition_bills_like_a_local_one(tmp_path):
    ent = entity()
    local = _stored(str(tmp_path / "wh"), ROWS)
    remote = _stored(f"memory://sp-{uuid.uuid4().hex[:8]}/wh", ROWS)
    for wh in (local, remote):
        billing.clean_time_entries_partition(wh, ent, OCT, AFTER_OCT)
        billing.billables_partition(wh, ent, OCT, AFTER_OCT)
    for asset in ("clean_time_entries", "billables"):
        a = local.read(asset, "acme-uk", OCT.key).sort_values("entry_id").reset_index(drop=True)
        b = remote.read(asset, "acme-uk", OCT.key).sort_values("entry_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(billing.invoice_drafts_partition(local, ent, OCT, AFTER_OCT),
                                  billing.invoice_drafts_partition(remote, ent, OCT, AFTER_OCT))


def test_a_missing_upstream_partition_says_what_to_materialize(tmp_path):
    with pytest.raises(WarehouseError, match=r"no raw_time_entries data .* materialize the upstream asset"):
        billing.clean_time_entries_partition(Warehouse(str(tmp_path)), entity(), OCT, AFTER_OCT)


def test_the_name_assets_read_distinct_values_not_the_partition(tmp_path):
    """fx_rates and entity_merge_proposals read the distinct currencies / names (first appearance order), and
    the proposals are the ones the whole partition gives."""
    rows = [entry("n1", client="1", client_name="Acme Corp"), entry("n2", client="2", client_name="ACME Corp."),
            entry("n3", client="1", client_name="Acme Corp", currency="EUR"),
            entry("n4", client="3", client_name="Zeta Ltd", project="12"),
            entry("n5", client="2", client_name="Acme Corporation", currency=None)]
    wh = _stored(str(tmp_path), rows)
    found = wh.distinct("raw_time_entries", "acme-uk", OCT.key, ["client_currency"])["client_currency"]
    assert [c if isinstance(c, str) else None for c in found] == ["GBP", "EUR", None]
    names = wh.distinct("raw_time_entries", "acme-uk", OCT.key, ["client_id", "client_name", "project_id",
                                                                 "project_name"])
    assert len(names) == 4  # n1 and n3 share their four values
    whole = billing.merge_proposals(wh.read("raw_time_entries", "acme-uk", OCT.key), entity())
    assert list(zip(whole["kind"], whole["duplicate_id"], strict=True)) == [("client", "2"), ("project", "12")]
    pd.testing.assert_frame_equal(billing.merge_proposals(names, entity()), whole)
    assert billing.currencies_needed(wh.distinct("raw_time_entries", "acme-uk", OCT.key, ["client_currency"]),
                                     entity()) == {"GBP", "EUR"}
    with pytest.raises(WarehouseError, match="materialize the upstream asset"):
        wh.distinct("raw_expenses", "acme-uk", OCT.key, ["client_currency"])
