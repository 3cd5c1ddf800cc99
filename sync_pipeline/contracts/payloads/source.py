"""Project-side payloads: one normalised record per source entry, whatever system it came from.

- ``source.time_entry`` v1: the row the ``raw_time_entries`` warehouse contract stores (Harvest, Redmine,
  CSV exports all map into it).
- ``source.time_entry`` v2: adds ``external_url`` and free-form ``custom_fields`` (Redmine custom fields,
  Toggl tags) and carries hours as integer seconds as well as decimal hours, so a consumer that needs exact
  minutes does not re-derive them. v2 → v1 refuses to drop an ``external_url`` or custom fields other than
  the ones v1 already maps (``billable``); ``seconds`` is derived from ``hours`` again on the way back.
- ``source.time_entry`` v3: the columns ``raw_time_entries`` v2 added, as the Harvest connector reads them
  (:func:`~sync_pipeline.connectors.harvest.flatten_time_entry`): ``started_at`` (start instant with its UTC
  offset), ``timezone`` (IANA), ``approval_status`` (unsubmitted, submitted, approved), ``approved_by``
  ("name (user id)"), ``approved_at``, ``billed_elsewhere`` (invoiced other than by this pipeline) and
  ``source_problem`` (the record did not read strictly: the entry is quarantined). All
  optional: CSV exports and Redmine leave them empty. v3 → v2 refuses ``billed_elsewhere`` (a v2 consumer
  would bill the entry again) and ``source_problem`` and drops the others, as ``RawTimeEntry`` v2 → v1 does (``spent_date`` and
  ``is_closed`` still say the day and whether the entry is locked); v2 → v3 adds them empty.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sync_pipeline.contracts.payloads import TranslationError, register, translator


class _Payload(BaseModel):
    # validators built on first use, not when the code location is imported (every run worker imports it)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

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


V3_FIELDS = ("started_at", "timezone", "approval_status", "approved_by", "approved_at", "billed_elsewhere",
             "source_problem")


@register("source.time_entry", 3)
class TimeEntryV3(TimeEntryV2):
    started_at: str | None = Field(default=None, description="start instant with its UTC offset (ISO 8601)")
    timezone: str | None = Field(default=None, description="IANA zone of the person who tracked the entry")
    approval_status: Literal["unsubmitted", "submitted", "approved"] | None = None
    approved_by: str | None = Field(default=None, description='who approved it: "name (user id)"')
    approved_at: str | None = None
    billed_elsewhere: str | None = Field(default=None, description="where it was invoiced other than by this "
                                                                   "pipeline (e.g. a Harvest invoice); never billed again")
    source_problem: str | None = Field(default=None, description="the source record did not read strictly: "
                                       '"field: problem; ..."; the entry is quarantined, never billed')

    @field_validator("started_at", "approved_at")
    @classmethod
    def _instant_with_zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{v!r} is not an ISO-8601 instant") from None
            if dt.tzinfo is None:
                raise ValueError(f"{v!r} has no UTC offset; give the instant with its offset or Z")
        return v


@translator("source.time_entry", 2, 3)
def _te_v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, **dict.fromkeys(V3_FIELDS)}


@translator("source.time_entry", 3, 2)
def _te_v3_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    if d.get("billed_elsewhere"):
        raise TranslationError(f"entry {d['entry_id']}: billed_elsewhere ({d['billed_elsewhere']}) has no place in "
                               "source.time_entry v2 and a v2 consumer would bill the entry again; read v3")
    if d.get("source_problem"):
        raise TranslationError(f"entry {d['entry_id']}: source_problem ({d['source_problem']}) has no place in "
                               "source.time_entry v2, which would read the entry as a good one; read v3")
    return {k: v for k, v in d.items() if k not in V3_FIELDS}
