"""Extract and bill one entity × period through Dagster (the real assets and the blocking conservation check),
for tests of entities whose time entries come from somewhere other than Harvest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import AssetCheckEvaluation, DagsterInstance, ExecuteInProcessResult, materialize

from sync_pipeline.defs.billing.assets import (
    billables,
    clean_expenses,
    clean_time_entries,
    expense_billables,
    fx_rates,
    invoice_drafts,
)
from sync_pipeline.defs.billing.checks import conservation
from sync_pipeline.defs.extract.assets import raw_expenses, raw_time_entries
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.resources import (
    FxResource,
    HarvestResource,
    MappingResource,
    OperationalStoreResource,
    RedmineResource,
    WarehouseResource,
)

EXTRACT_AND_BILL = [raw_time_entries, raw_expenses, fx_rates, clean_time_entries, billables, clean_expenses,
                    expense_billables, invoice_drafts, conservation]


def extract_and_bill(entity: str, period: str, mapping: str, warehouse: Path,
                     redmine: RedmineResource | None = None, opstore: str | None = None) -> ExecuteInProcessResult:
    """One run; an entity not on Harvest must never call it, so Harvest points at a dead address. ``opstore``:
    the operational store's URL (default: a SQLite file beside the warehouse)."""
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("entity", [entity])
        return materialize(
            EXTRACT_AND_BILL, instance=instance, partition_key=partition_key(entity, period),
            resources={"mapping": MappingResource(path=mapping), "warehouse": WarehouseResource(root=str(warehouse)),
                       "redmine": redmine or RedmineResource(),
                       "harvest": HarvestResource(base_url="http://127.0.0.1:9", access_token="unused"),
                       "fx": FxResource(),
                       "opstore": OperationalStoreResource(url=opstore or f"sqlite:///{warehouse}.op.sqlite3")})


def check_outcomes(result: ExecuteInProcessResult) -> list[tuple[Any, Any]]:
    return [(e.event_specific_data.check_name, e.event_specific_data.passed) for e in result.all_events
            if isinstance(e.event_specific_data, AssetCheckEvaluation)]
