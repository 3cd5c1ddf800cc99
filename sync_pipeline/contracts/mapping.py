"""The mapping document: how the project system maps onto the accounting system.

Validated with pydantic so a bad file gives errors naming the key and the fix.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sync_pipeline.domain.money import MINOR_UNITS

MAPPING_VERSION = 1
_ENTITY_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class MappingError(ValueError):
    """A mapping file is missing, malformed or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityConfig(_Strict):
    key: str = Field(description="partition key of the entity, e.g. acme-uk")
    name: str
    timezone: str = Field(description="IANA time zone of the entity, e.g. Europe/London")
    base_currency: str
    harvest_account_id: str
    xero_tenant_id: str
    sales_account_code: str = "200"
    tax_type: str = "OUTPUT2"
    tax_rate_percent: Decimal = Decimal("20")
    payment_terms_days: int = 30
    require_approval: bool = True

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _ENTITY_KEY_RE.match(v):
            raise ValueError(
                "entity key must be lower-case letters, digits, '-' or '_' (max 40), "
                "since it becomes a Dagster partition key"
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r}; use e.g. Europe/London") from None
        return v

    @field_validator("base_currency")
    @classmethod
    def _ccy(cls, v: str) -> str:
        if v not in MINOR_UNITS:
            raise ValueError(f"unknown currency {v!r}; use an ISO 4217 code such as GBP, USD, EUR")
        return v


class Mapping(_Strict):
    version: int = MAPPING_VERSION
    entities: list[EntityConfig]

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != MAPPING_VERSION:
            raise ValueError(f"mapping version {v} is not supported; this release reads version {MAPPING_VERSION}")
        return v

    @field_validator("entities")
    @classmethod
    def _unique(cls, v: list[EntityConfig]) -> list[EntityConfig]:
        keys = [e.key for e in v]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate entity keys: {', '.join(dupes)}")
        return v

    def entity(self, key: str) -> EntityConfig:
        for e in self.entities:
            if e.key == key:
                return e
        known = ", ".join(e.key for e in self.entities) or "(none)"
        raise MappingError(f"entity {key!r} is not in the mapping; known entities: {known}")


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid mapping file {path}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        lines.append(f"  - {loc}: {e['msg']}")
    return "\n".join(lines)


def load_mapping(path: str | Path) -> Mapping:
    p = Path(path)
    if not p.exists():
        raise MappingError(f"mapping file not found: {p}; copy docs/mapping.example.yaml and edit it")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise MappingError(f"mapping file {p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise MappingError(f"mapping file {p} must be a YAML mapping at the top level")
    try:
        return Mapping.model_validate(data)
    except ValidationError as e:
        raise MappingError(_format_errors(p, e)) from None
