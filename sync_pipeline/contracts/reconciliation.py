"""The reconciliation configuration: cash-matching policy per entity and where bank statements arrive.

Validated with pydantic so a bad file names the key and the fix; see ``docs/reconciliation.example.yaml``.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sync_pipeline.domain.cash_matching import CashPolicy
from sync_pipeline.domain.money import MINOR_UNITS


class ReconciliationConfigError(ValueError):
    pass


class PolicyModel(BaseModel):
    """Every field optional: an entity's policy is the defaults overlaid with what it sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_threshold: float | None = Field(None, ge=0.5, le=1.0)
    propose_threshold: float | None = Field(None, ge=0.0, le=1.0)
    writeoff_max_minor: int | None = Field(None, ge=0)
    writeoff_max_ratio: Decimal | None = Field(None, ge=0, le=1)
    fx_tolerance_ratio: Decimal | None = Field(None, ge=0, le=1)
    fee_step_minor: int | None = Field(None, ge=1)
    small_difference_minor: int | None = Field(None, ge=0)
    fx_spread_ratio: Decimal | None = Field(None, ge=0, le=1)
    auto_partial: bool | None = None
    partial_min_name_similarity: float | None = Field(None, ge=0, le=1)
    counterparty_min_similarity: float | None = Field(None, ge=0, le=1)
    days_before: int | None = Field(None, ge=0)
    days_after: int | None = Field(None, ge=1)
    payment_days_before: int | None = Field(None, ge=0)
    payment_days_after: int | None = Field(None, ge=0)
    max_subset_candidates: int | None = Field(None, ge=2, le=24)
    max_name_candidates: int | None = Field(None, ge=1, le=500)
    max_amount_candidates: int | None = Field(None, ge=1)
    min_name_similarity: float | None = Field(None, ge=0, le=1)
    max_labels: int | None = Field(None, ge=100)
    bank_account: str | None = None
    writeoff_account: str | None = None
    fx_account: str | None = None


class EntityCash(PolicyModel):
    bank_currency: str = "GBP"
    statement_files: list[str] = Field(default_factory=lambda: ["*.csv", "*.ofx", "*.xml", "*.sta", "*.mt940"],
                                       description="glob patterns under <statements_dir>/<entity>/")

    @model_validator(mode="after")
    def _ccy(self):
        if self.bank_currency not in MINOR_UNITS:
            raise ValueError(f"unknown bank_currency {self.bank_currency!r}; use an ISO 4217 code such as GBP")
        return self


class ReconciliationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    statements_dir: str = "data/statements"
    defaults: PolicyModel = PolicyModel()
    entities: dict[str, EntityCash] = Field(default_factory=dict)

    def entity(self, key: str) -> EntityCash:
        return self.entities.get(key) or EntityCash()

    def policy(self, key: str) -> CashPolicy:
        merged = {}
        for layer in (self.defaults, self.entity(key)):
            merged.update({k: v for k, v in layer.model_dump().items() if v is not None})
        names = {f.name for f in fields(CashPolicy)}
        return CashPolicy(**{k: v for k, v in merged.items() if k in names})


def load_reconciliation_config(path: str | Path | None) -> ReconciliationConfig:
    """The file's configuration; the built-in defaults when ``path`` is empty or does not exist."""
    if not path or not Path(path).exists():
        return ReconciliationConfig()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ReconciliationConfigError(f"{p} is not valid YAML: {e}") from None
    try:
        return ReconciliationConfig.model_validate(data)
    except ValidationError as e:
        lines = [f"invalid reconciliation configuration {p}:"]
        lines += [f"  - {'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ReconciliationConfigError("\n".join(lines)) from None
