"""Partitions: entity (dynamic) × billing period (monthly). Keys read ``entity|YYYY-MM-01``."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import (
    AssetExecutionContext,
    DynamicPartitionsDefinition,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from sync_pipeline.domain.periods import Period

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
