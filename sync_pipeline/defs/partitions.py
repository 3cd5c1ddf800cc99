"""Partitions: entity (dynamic) × billing period (monthly). Keys read ``entity|YYYY-MM-01``.

Two period dimensions, because a Dagster asset has one partitions definition and the open month is needed by
some assets and wrong for others (docs/user-manual.md, "Billing periods in the Dagster UI"):

- ``period_partitions`` / ``entity_period_partitions``: every month up to the **open** one (its drafts), in the
  zone where a month begins first. ``sync_job``, ``xero_refresh_job``, pull-back and cash: what the cadence
  schedules, the change-feed and webhook sensors and the heartbeat run mid-month.
- ``closed_period_partitions`` / ``entity_closed_period_partitions``: every month up to the **last closed** one, in
  the zone where a month ends last. Finance, consolidation and KPI assets: period-close work, backfilled by period.

Both zones come from the mapping's entities when the code location loads (``SYNC_PIPELINE_MAPPING``); with one
entity they are its time zone.
"""

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

from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.defs import settings
from sync_pipeline.domain.periods import Period, closing_timezone, opening_timezone

# Every asset check carries the partitions of its asset (``@asset_check(partitions_def=...)``), so each result
# is recorded against its entity × period and the UI shows which periods passed. Dagster 1.13 marks the
# argument as a preview; the warning says nothing an operator can act on.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

FIRST_PERIOD = "2025-01-01"


def entity_timezones() -> list[str]:
    """The time zones of the mapping's entities (the mapping the code location loads)."""
    return [e.timezone for e in load_mapping(settings.mapping_path()).entities]


def open_period_partitions(timezone: str) -> MonthlyPartitionsDefinition:
    """Every month up to the one open now in ``timezone`` (``end_offset=1``: the month in progress is a partition,
    so mid-month runs can draft its invoices)."""
    return MonthlyPartitionsDefinition(start_date=FIRST_PERIOD, timezone=timezone, end_offset=1)


def closed_periods(timezone: str) -> MonthlyPartitionsDefinition:
    """Every month that has ended in ``timezone``: the last one offered ("Latest" in the UI) is the last closed."""
    return MonthlyPartitionsDefinition(start_date=FIRST_PERIOD, timezone=timezone, end_offset=0)


_zones = entity_timezones()
entity_partitions = DynamicPartitionsDefinition(name="entity")
period_partitions = open_period_partitions(opening_timezone(_zones))
entity_period_partitions = MultiPartitionsDefinition({"entity": entity_partitions, "period": period_partitions})
closed_period_partitions = closed_periods(closing_timezone(_zones))
entity_closed_period_partitions = MultiPartitionsDefinition({"entity": entity_partitions,
                                                             "period": closed_period_partitions})


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
