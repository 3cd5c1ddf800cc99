"""The warehouse on an object-store URL (fsspec memory filesystem) and on a file:// URL; the whole sync
against a warehouse that is not a local folder."""

import uuid
from decimal import Decimal

import pandas as pd
import pytest

from sync_pipeline.contracts.warehouse import RawTimeEntry
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.resources import WarehouseResource
from sync_pipeline.sandbox import demo_data
from sync_pipeline.store.warehouse import Warehouse, WarehouseError


def _frame():
    return pd.DataFrame([{"entry_id": "1", "hours": Decimal("1.25")}, {"entry_id": "2", "hours": Decimal("0.5")}])


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_round_trip_on_a_url(kind, tmp_path):
    root = f"memory://sp-{uuid.uuid4().hex[:8]}/wh" if kind == "memory" else f"file://{tmp_path}/wh"
    wh = Warehouse(root)
    assert not wh.exists("x", "e", "2026-10")
    with pytest.raises(WarehouseError, match="materialize the upstream asset"):
        wh.read("x", "e", "2026-10")
    where = wh.write("x", "e", "2026-10", _frame())
    wh.write("x", "e", "2026-11", _frame())
    assert wh.exists("x", "e", "2026-10")
    assert wh.periods("x", "e") == ["2026-10", "2026-11"] and wh.periods("x", "other") == []
    back = wh.read("x", "e", "2026-10")
    assert list(back["hours"]) == [Decimal("1.25"), Decimal("0.5")]
    assert wh.read_columns("x", "e", "2026-10", ["entry_id"]).column("entry_id").to_pylist() == ["1", "2"]
    if kind == "memory":
        assert wh.uri("x", "e", "2026-10").startswith("memory://") and str(where).startswith("memory://")
        assert wh.glob("x").endswith("/x/entity=*/period=*.parquet")
    else:  # file:// is the local layout
        assert (tmp_path / "wh" / "x" / "entity=e" / "period=2026-10.parquet").exists()


def test_a_contract_still_guards_an_object_store_write():
    from sync_pipeline.store.warehouse import ContractViolation

    wh = Warehouse(f"memory://sp-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ContractViolation):
        wh.write("raw_time_entries", "e", "2026-10", pd.DataFrame([{"entry_id": None}]), RawTimeEntry)


def test_the_sync_runs_against_an_object_store_warehouse(resources, instance, sandboxes, standing_approval):
    url = f"memory://sp-{uuid.uuid4().hex[:8]}/warehouse"
    job = build_defs({**resources, "warehouse": WarehouseResource(root=url)}).resolve_job_def("sync_job")
    result = job.execute_in_process(instance=instance,
                                    partition_key=partition_key(demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD))
    assert result.success
    wh = Warehouse(url)
    posted = wh.read("posted_invoices", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    assert len(posted) == 2
    assert not (resources["warehouse"].get().root / "posted_invoices").exists()  # nothing went to the local folder
