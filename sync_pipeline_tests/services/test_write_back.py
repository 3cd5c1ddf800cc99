"""Two-way sync against the Harvest sandbox: settlements of our invoices become payments on a mirror invoice,
once each; one removed in the accounting system is removed there; a one-way entity writes nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import materialize

from sync_pipeline.connectors.harvest import HarvestClient
from sync_pipeline.defs import settings
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.resources import HarvestResource, MappingResource, RedmineResource, WarehouseResource
from sync_pipeline.defs.writeback.assets import source_settlements_written_back
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.run import start_sandboxes
from sync_pipeline.services.write_back import write_back_settlements
from sync_pipeline.store.warehouse import Warehouse

DOCS = pd.DataFrame([
    {"document_id": "d1", "document_kind": "invoice", "number": "INV-0101", "reference": "acme-uk-1-2026-10-R1",
     "client_id": "1", "currency": "GBP", "status": "AUTHORISED", "date": "2026-10-31", "due_date": "2026-11-30",
     "total_minor": 120000},
    {"document_id": "d2", "document_kind": "invoice", "number": "INV-0102", "reference": "acme-uk-2-2026-10-R1",
     "client_id": "2", "currency": "EUR", "status": "AUTHORISED", "date": "2026-10-31", "due_date": "2026-11-30",
     "total_minor": 69990},  # nothing settled: not mirrored
])


def _settlements(*rows: tuple[str, str, int, str]) -> pd.DataFrame:
    return pd.DataFrame([{"settlement_id": sid, "kind": kind, "document_kind": "invoice", "document_id": "d1",
                          "source_id": f"src-{sid}", "date": "2026-11-10", "amount_minor": minor, "currency": "GBP",
                          "status": status} for sid, kind, minor, status in rows],
                        columns=["settlement_id", "kind", "document_kind", "document_id", "source_id", "date",
                                 "amount_minor", "currency", "status"])


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    sb = start_sandboxes(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def harvest(sandbox):
    client = HarvestClient(sandbox.harvest_server.url, sandbox.harvest.token, demo_data.HARVEST_ACCOUNT_ID,
                           max_attempts=2)
    try:
        yield client
    finally:
        client.close()


def _mirror(harvest: HarvestClient, number: str) -> tuple[dict, list[dict]]:
    [inv] = [i for page in harvest.invoices() for i in page if i["number"] == number]
    return inv, harvest.invoice_payments(inv["id"])


def test_settlements_are_written_back_once_and_removals_follow(harvest):
    pays = _settlements(("s1", "payment", 50000, "AUTHORISED"), ("s2", "credit_note_allocation", 20000, "AUTHORISED"),
                        ("s3", "payment", 10000, "DELETED"))
    done = write_back_settlements(harvest, DOCS, pays)
    assert (done.invoices_created, done.payments_written, done.payments_removed) == (["INV-0101"], 2, 0)
    inv, payments = _mirror(harvest, "INV-0101")
    assert (str(inv["amount"]), str(inv["due_amount"]), inv["client"]["id"]) == ("1200.00", "500.00", 1)
    assert sorted(str(p["amount"]) for p in payments) == ["200.00", "500.00"]
    assert any(p["notes"].startswith("credit note src-s2 in the accounting system") for p in payments)

    again = write_back_settlements(harvest, DOCS, pays)  # a re-run writes nothing twice
    assert (again.invoices_created, again.payments_written, again.payments_removed) == ([], 0, 0)

    reversed_ = _settlements(("s1", "payment", 50000, "DELETED"), ("s2", "credit_note_allocation", 20000, "AUTHORISED"),
                             ("s4", "payment", 100000, "AUTHORISED"))
    done = write_back_settlements(harvest, DOCS, reversed_)
    assert (done.payments_written, done.payments_removed) == (1, 1)
    inv, payments = _mirror(harvest, "INV-0101")
    assert str(inv["due_amount"]) == "0.00" and inv["state"] == "paid"
    assert not any(i["number"] == "INV-0102" for page in harvest.invoices() for i in page)


def _mapping(tmp_path: Path, direction: str) -> str:
    doc = yaml.safe_load(Path(settings.mapping_path()).read_text())
    for e in doc["entities"]:
        if e["key"] == demo_data.DEMO_ENTITY:
            e["direction"] = direction
    p = tmp_path / f"mapping-{direction}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


@pytest.mark.parametrize("direction", ["bidirectional", "one_way"])
def test_the_asset_writes_back_only_for_a_bidirectional_entity(sandbox, harvest, tmp_path, direction):
    wh = Warehouse(str(tmp_path / "wh"))
    docs = DOCS.assign(number=DOCS["number"] + f"-{direction}")
    wh.write("accounting_invoices", demo_data.DEMO_ENTITY, "2026-10", docs)
    wh.write("raw_payments", demo_data.DEMO_ENTITY, "2026-10", _settlements(("s9", "payment", 1000, "AUTHORISED")))
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        result = materialize([source_settlements_written_back], instance=instance,
                             partition_key=partition_key(demo_data.DEMO_ENTITY, "2026-10"), resources={
            "mapping": MappingResource(path=_mapping(tmp_path, direction)),
            "harvest": HarvestResource(base_url=sandbox.harvest_server.url, access_token=sandbox.harvest.token),
            "redmine": RedmineResource(), "warehouse": WarehouseResource(root=str(tmp_path / "wh"))})
    meta = result.asset_materializations_for_node("source_settlements_written_back")[0].metadata
    mirrored = [i for page in harvest.invoices() for i in page if i["number"] == f"INV-0101-{direction}"]
    if direction == "bidirectional":
        assert meta["payments_written"].value == 1 and len(mirrored) == 1
    else:
        assert meta["written_back"].value == 0 and mirrored == []
