"""Project-side payloads: one normalised record per source entry, whatever system it came from.

- ``source.time_entry`` v1: the row the ``raw_time_entries`` warehouse contract stores (Harvest, Redmine,
  CSV exports all map into it).
- ``source.time_entry`` v2: adds ``external_url`` and free-form ``custom_fields`` (Redmine custom fields,
  Toggl tags) and carries hours as integer seconds as well as decimal hours, so a consumer that needs exact
  minutes does not re-derive them. v2 → v1 refuses to drop an ``external_url`` or custom fields other than
  the ones v1 already maps (``billable``); ``seconds`` is derived from ``hours`` again on the way back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sync_pipeline.contracts.payloads import TranslationError, register, translator


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("hours", "billable_rate", "cost_rate", mode="before", check_fields=False)
    @classmethod
    def _no_float(cls, v: Any) -> Any:
        if isinstance(v, float):
            raise ValueError("hours and rates must be Decimal, int or str, never a binary float")
        return v


@register("source.time_entry", 1)
class TimeEntryV1(_Payload):
    source: str = Field(description="harvest | redmine | harvest_csv | toggl_csv ...")
    entry_id: str
    spent_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    user_id: str | None = None
    user_name: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    client_currency: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_code: str | None = None
    task_id: str | None = None
    task_name: str | None = None
    hours: Decimal | None = None
    billable: bool
    billable_rate: Decimal | None = None
    cost_rate: Decimal | None = Field(default=None, description="the person's cost per hour (Harvest), if known")
    is_closed: bool
    notes: str | None = None
    updated_at: str
    extracted_at: str


@register("source.time_entry", 2)
class TimeEntryV2(TimeEntryV1):
    seconds: int | None = Field(default=None, description="duration in whole seconds, when the source has it")
    external_url: str | None = None
    custom_fields: dict[str, str] = Field(default_factory=dict)


V1_MAPPED_CUSTOM_FIELDS = {"billable"}


@translator("source.time_entry", 1, 2)
def _te_v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    hours = d.get("hours")
    seconds = int((hours * 3600).to_integral_value()) if hours is not None else None
    return {**d, "seconds": seconds, "external_url": None, "custom_fields": {}}


@translator("source.time_entry", 2, 1)
def _te_v2_to_v1(d: dict[str, Any]) -> dict[str, Any]:
    if d.get("external_url"):
        raise TranslationError(f"entry {d['entry_id']}: external_url has no place in source.time_entry v1; read v2")
    extra = set(d.get("custom_fields") or {}) - V1_MAPPED_CUSTOM_FIELDS
    if extra:
        raise TranslationError(f"entry {d['entry_id']}: custom fields {sorted(extra)} have no place in "
                               "source.time_entry v1; read v2")
    return {k: v for k, v in d.items() if k not in ("seconds", "external_url", "custom_fields")}
