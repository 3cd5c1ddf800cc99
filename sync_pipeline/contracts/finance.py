"""The finance configuration: cost pools and their drivers, Capex/Opex classification,
intercompany counterparties and the translation method for consolidation.

A separate document from the mapping (``docs/finance.example.yaml``; override with
``SYNC_PIPELINE_FINANCE``), validated with pydantic so a bad file names the key and the fix.
The methodology of every pool is written in the file itself (``methodology``), next to the
driver that implements it, so what accountants read is what runs.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from sync_pipeline.domain.money import MINOR_UNITS

FINANCE_VERSION = 1
DRIVERS = ("hours", "headcount", "usage", "fixed_key")
Driver = Literal["hours", "headcount", "usage", "fixed_key"]
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_PERIOD_RE = re.compile(r"^\d{4}-\d{2}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FinanceConfigError(ValueError):
    """A finance configuration file is missing, malformed or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _currency(v: str) -> str:
    if v not in MINOR_UNITS:
        raise ValueError(f"unknown currency {v!r}; use an ISO 4217 code such as GBP, USD, EUR")
    return v


def _exact_number(v: object) -> object:
    """YAML reads 1200.00 as a binary float: refuse it, so amounts are never rounded by accident."""
    if isinstance(v, float):
        raise ValueError(f"write numbers as quoted strings (e.g. \"{v}\") so they stay exact decimals")
    return v


Exact = Annotated[Decimal, BeforeValidator(_exact_number)]


def _positive_decimal(v: Decimal, what: str) -> Decimal:
    if v < 0:
        raise ValueError(f"{what} must not be negative, got {v}")
    return v


class DepreciationCode(_Strict):
    code: str = Field(description="depreciation code written on every capex line, e.g. SL36")
    method: Literal["straight_line"] = "straight_line"
    months: int = Field(ge=1, le=600, description="useful life in months")


class AccountClass(_Strict):
    """How an expense account of the accounting system is treated: Opex or Capex."""

    code: str = Field(description="account code in the accounting system, e.g. 429")
    name: str = ""
    expense_class: Literal["opex", "capex"]
    capitalization_code: str | None = Field(None, description="fixed-asset class for capex, e.g. FA-IT")
    depreciation_code: str | None = Field(None, description="key into depreciation_codes for capex")

    @model_validator(mode="after")
    def _capex_codes(self) -> AccountClass:
        if self.expense_class == "capex" and not (self.capitalization_code and self.depreciation_code):
            raise ValueError(f"capex account {self.code} needs capitalization_code and depreciation_code")
        if self.expense_class == "opex" and (self.capitalization_code or self.depreciation_code):
            raise ValueError(f"opex account {self.code} must not carry capitalization/depreciation codes")
        return self


class FixedKeyWeight(_Strict):
    entity: str
    project_id: str
    weight: Exact = Field(description="share of the pool; weights are normalised (50/25/25 = 2/1/1)")
    client_id: str | None = None

    @field_validator("weight")
    @classmethod
    def _w(cls, v: Decimal) -> Decimal:
        return _positive_decimal(v, "fixed-key weight")


class CostPool(_Strict):
    key: str = Field(description="pool identifier, kept on every allocated row")
    name: str
    driver: Driver
    accounts: list[str] = Field(default_factory=list,
                                description="opex account codes whose shared lines feed this pool")
    methodology: str = Field(min_length=10, description="why this driver; read by accountants")
    entities: list[str] | None = Field(None, description="entities the pool applies to (default: all)")
    usage_metric: str | None = Field(None, description="for driver usage: which metric in `usage`")
    fixed_key: list[FixedKeyWeight] = Field(default_factory=list, description="for driver fixed_key")
    dispositions: list[Literal["billable", "non_billable", "held"]] = Field(
        default_factory=lambda: ["billable", "non_billable", "held"],
        description="for hours/headcount: which classified time entries count (quarantined never do)")

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _KEY_RE.match(v):
            raise ValueError("pool key must be lower-case letters, digits, '-' or '_' (max 40)")
        return v

    @model_validator(mode="after")
    def _driver_inputs(self) -> CostPool:
        if self.driver == "usage" and not self.usage_metric:
            raise ValueError(f"pool {self.key}: driver usage needs usage_metric")
        if self.driver == "fixed_key" and not self.fixed_key:
            raise ValueError(f"pool {self.key}: driver fixed_key needs fixed_key weights")
        return self

    def applies_to(self, entity: str) -> bool:
        return self.entities is None or entity in self.entities


class ConfiguredSharedCost(_Strict):
    """A shared cost that is not in the accounting system (or not yet): entered by finance."""

    entity: str
    period: str
    id: str = Field(description="stable identifier of the cost, kept on every allocated row")
    date: str
    description: str
    account_code: str
    amount: Exact = Field(description="net amount in `currency`, major units (e.g. 1200.00)")
    currency: str
    contact_name: str | None = None
    project_id: str | None = Field(None, description="set for a direct project expense (not shared)")

    _ccy = field_validator("currency")(classmethod(lambda cls, v: _currency(v)))

    @field_validator("period")
    @classmethod
    def _p(cls, v: str) -> str:
        if not _PERIOD_RE.match(v):
            raise ValueError(f"period {v!r} must be YYYY-MM")
        return v

    @field_validator("date")
    @classmethod
    def _d(cls, v: str) -> str:
        if not _DATE_RE.match(v):
            raise ValueError(f"date {v!r} must be YYYY-MM-DD")
        return v


class UsageQuantity(_Strict):
    entity: str
    period: str
    project_id: str
    metric: str
    quantity: Exact
    client_id: str | None = None

    @field_validator("quantity")
    @classmethod
    def _q(cls, v: Decimal) -> Decimal:
        return _positive_decimal(v, "usage quantity")


class IntercompanyCounterparty(_Strict):
    """A contact (accounting system) or client (project system) that is another group entity."""

    entity: str = Field(description="the entity whose books hold the contact/client")
    counterparty: str = Field(description="the group entity it stands for")
    contact_name: str | None = None
    client_id: str | None = None

    @model_validator(mode="after")
    def _one(self) -> IntercompanyCounterparty:
        if not (self.contact_name or self.client_id):
            raise ValueError("an intercompany counterparty needs contact_name or client_id")
        if self.entity == self.counterparty:
            raise ValueError(f"entity {self.entity} cannot be its own intercompany counterparty")
        return self


class Translation(_Strict):
    """How entity results in their functional currency become the group reporting currency."""

    income_expense_rate: Literal["average", "closing"] = Field(
        "average", description="income and expenses at the period's average rate (IAS 21.40) or at closing")
    balance_rate: Literal["closing"] = "closing"
    average: Literal["mean_of_daily"] = Field(
        "mean_of_daily", description="arithmetic mean of the published daily rates in the period")
    rounding: Literal["half_up", "half_even"] = "half_up"
    remeasure_foreign_transactions: Literal["average"] = Field(
        "average", description="transactions in a currency other than the entity's are remeasured into its "
                               "functional currency at the period average (IAS 21.22 practical expedient)")


class FinanceConfig(_Strict):
    version: int = FINANCE_VERSION
    reporting_currency: str = Field(description="group reporting (presentation) currency")
    translation: Translation = Translation()
    cost_sources: list[Literal["xero_bills", "xero_spend", "configured"]] = Field(
        default_factory=lambda: ["xero_bills", "xero_spend", "configured"],
        description="where shared costs come from: ACCPAY bills, SPEND bank transactions, the list below")
    direct_expense_tracking_category: str = Field(
        "Project", description="tracking category on expense lines naming a project: such lines are direct "
                               "project expenses, not shared costs")
    depreciation_codes: list[DepreciationCode] = Field(default_factory=list)
    accounts: list[AccountClass] = Field(default_factory=list)
    cost_pools: list[CostPool] = Field(default_factory=list)
    shared_costs: list[ConfiguredSharedCost] = Field(default_factory=list)
    usage: list[UsageQuantity] = Field(default_factory=list)
    intercompany: list[IntercompanyCounterparty] = Field(default_factory=list)

    _rc = field_validator("reporting_currency")(classmethod(lambda cls, v: _currency(v)))

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != FINANCE_VERSION:
            raise ValueError(f"finance config version {v} is not supported; this release reads {FINANCE_VERSION}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> FinanceConfig:
        problems: list[str] = []
        dep = {d.code for d in self.depreciation_codes}
        codes = [a.code for a in self.accounts]
        for c in sorted({c for c in codes if codes.count(c) > 1}):
            problems.append(f"account {c} is classified twice")
        classes = {a.code: a for a in self.accounts}
        for a in self.accounts:
            if a.depreciation_code and a.depreciation_code not in dep:
                problems.append(f"account {a.code}: depreciation code {a.depreciation_code} is not in "
                                f"depreciation_codes ({', '.join(sorted(dep)) or 'none'})")
        keys = [p.key for p in self.cost_pools]
        for k in sorted({k for k in keys if keys.count(k) > 1}):
            problems.append(f"cost pool {k} is defined twice")
        owner: dict[tuple[str, str], str] = {}
        for p in self.cost_pools:
            for acc in p.accounts:
                cls_ = classes.get(acc)
                if cls_ is None:
                    problems.append(f"pool {p.key}: account {acc} is not classified in accounts (opex/capex)")
                elif cls_.expense_class != "opex":
                    problems.append(f"pool {p.key}: account {acc} is capex; only opex is allocated "
                                    "(capex is capitalized and depreciated)")
                for ent in (p.entities or ["*"]):
                    prev = owner.get((ent, acc))
                    if prev:
                        problems.append(f"account {acc} feeds both pool {prev} and pool {p.key}")
                    owner[(ent, acc)] = p.key
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def pools_for(self, entity: str) -> list[CostPool]:
        return [p for p in self.cost_pools if p.applies_to(entity)]

    def pool(self, key: str) -> CostPool:
        for p in self.cost_pools:
            if p.key == key:
                return p
        known = ", ".join(p.key for p in self.cost_pools) or "(none)"
        raise FinanceConfigError(f"cost pool {key!r} is not configured; known pools: {known}")


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid finance configuration {path}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  - {loc}: {e['msg']}")
    return "\n".join(lines)


def parse_finance_config(data: object, origin: str = "<memory>") -> FinanceConfig:
    if not isinstance(data, dict):
        raise FinanceConfigError(f"finance configuration {origin} must be a YAML mapping at the top level")
    try:
        return FinanceConfig.model_validate(data)
    except ValidationError as e:
        raise FinanceConfigError(_format_errors(Path(origin), e)) from None


def load_finance_config(path: str | Path) -> FinanceConfig:
    p = Path(path)
    if not p.exists():
        raise FinanceConfigError(f"finance configuration not found: {p}; copy docs/finance.example.yaml and edit it")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise FinanceConfigError(f"finance configuration {p} is not valid YAML: {e}") from None
    return parse_finance_config(data, str(p))


class ProjectWeight(_Strict):
    project_id: str
    weight: Exact
    client_id: str | None = None

    @field_validator("weight")
    @classmethod
    def _w(cls, v: Decimal) -> Decimal:
        return _positive_decimal(v, "fixed-key weight")


class ProjectUsage(_Strict):
    project_id: str
    metric: str
    quantity: Exact
    client_id: str | None = None

    @field_validator("quantity")
    @classmethod
    def _q(cls, v: Decimal) -> Decimal:
        return _positive_decimal(v, "usage quantity")


class PoolOverride(_Strict):
    """Another driver (or other weights) for one pool, for one re-allocation run."""

    key: str
    driver: Driver | None = None
    usage_metric: str | None = None
    fixed_key: list[ProjectWeight] | None = None
    dispositions: list[Literal["billable", "non_billable", "held"]] | None = None


class AllocationOverrides(_Strict):
    """What an accountant changes when re-running an allocation for one entity and period.

    Anything not named keeps the finance configuration's value. ``usage``, when given, replaces the
    configured usage quantities of the partition entirely.
    """

    pools: list[PoolOverride] = Field(default_factory=list)
    usage: list[ProjectUsage] | None = None
    note: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.pools and self.usage is None
