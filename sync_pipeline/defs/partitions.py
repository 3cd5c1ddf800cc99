"""Partitions: entity (dynamic) × billing period (monthly). Keys read ``entity|YYYY-MM-01``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from dagster import (
    AssetExecutionContext,
    DynamicPartitionsDefinition,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from sync_pipeline.domain.periods import Period

# Every asset check carries the partitions of its asset (``@asset_check(partitions_def=...)``), so each result
# is recorded against its entity × period and the UI shows which periods passed. Dagster 1.13 marks the
# argument as a preview; the warning says nothing an operator can act on.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

entity_partitions = DynamicPartitionsDefinition(name="entity")
period_partitions = MonthlyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
entity_period_partitions = MultiPartitionsDefinition({"entity": entity_partitions, "period": period_partitions})


@dataclass(frozen=True)
class EntityPeriod:
    entity: str
    period: Period


def entity_period(context: AssetExecutionContext) -> EntityPeriod:
    keys = context.partition_key.keys_by_dimension  # type: ignore[union-attr]
    return EntityPeriod(keys["entity"], Period.parse(keys["period"]))


def partition_key(entity: str, period: Period | str) -> MultiPartitionKey:
    p = period if isinstance(period, Period) else Period.parse(period)
    return MultiPartitionKey({"entity": entity, "period": p.partition_key})
