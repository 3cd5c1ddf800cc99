"""The mapping document: how the project system maps onto the accounting system.

Validated with pydantic so a bad file gives errors naming the key and the fix.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sync_pipeline.domain.money import MINOR_UNITS

MAPPING_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)  # version 1 files (entities only) read as version 2 with no rules
_ENTITY_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class MappingError(ValueError):
    """A mapping file is missing, malformed or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


RoundingMode = Literal["nearest", "up", "down"]
RoundingScope = Literal["entry", "day", "line"]
Unit = Literal["hours", "days"]


def _ccy_ok(v: str | None) -> str | None:
    if v is not None and v not in MINOR_UNITS:
        raise ValueError(f"unknown currency {v!r}; use an ISO 4217 code such as GBP, USD, EUR, JPY")
    return v


class RoundingRule(_Strict):
    """How worked time becomes billed time: round to ``increment_minutes`` with ``mode``, per ``scope``.

    ``entry`` rounds each time entry, ``day`` each person-day on a line, ``line`` the line total.
    ``minimum_minutes`` is the least an entry is billed for (applied per entry, before the scope's rounding).
    """

    increment_minutes: int | None = Field(None, ge=1, le=480, description="empty: bill the recorded time exactly")
    mode: RoundingMode = "nearest"
    scope: RoundingScope = "line"
    minimum_minutes: int = Field(0, ge=0, le=480)


class UnitRule(_Strict):
    """The invoiceable unit: hours, or days of ``hours_per_day`` hours (rates are then day rates)."""

    unit: Unit = "hours"
    hours_per_day: Decimal = Field(Decimal(8), gt=0, le=24)


class RateCard(_Strict):
    """A billing rate in force from ``valid_from`` to ``valid_to`` (inclusive; open-ended when empty).

    The level is given by the keys present: ``task`` (+ optional ``project``) > ``user`` + ``project`` >
    ``project`` > ``client`` > none (the entity default). ``billable_percent`` bills a share of the rate
    (partially billable users or tasks).
    """

    rate: Decimal = Field(ge=0)
    currency: str | None = Field(None, description="defaults to the client's invoice currency")
    client: str | None = None
    project: str | None = None
    task: str | None = None
    user: str | None = None
    valid_from: date = date(1900, 1, 1)
    valid_to: date | None = None
    billable_percent: Decimal = Field(Decimal(100), ge=0, le=100)

    _c = field_validator("currency")(classmethod(lambda cls, v: _ccy_ok(v)))

    @model_validator(mode="after")
    def _level_ok(self) -> RateCard:
        if self.user is not None and self.project is None:
            raise ValueError("a user rate applies on a project: add 'project' (user-on-project rates), "
                             "or put a user's general rate on each project")
        if self.client is not None and (self.project or self.task or self.user):
            raise ValueError("a client rate has only 'client': drop 'project', 'task' and 'user', "
                             "or drop 'client' for a project/task/user rate")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}; swap them")
        return self

    @property
    def level(self) -> str:
        """``task_project`` > ``task`` > ``user_project`` > ``project`` > ``client`` > ``entity_default``."""
        if self.task is not None:
            return "task_project" if self.project is not None else "task"
        if self.user is not None:
            return "user_project"
        if self.project is not None:
            return "project"
        if self.client is not None:
            return "client"
        return "entity_default"

    @property
    def match_key(self) -> str:
        return {"task_project": f"{self.project}/{self.task}", "task": self.task or "",
                "user_project": f"{self.project}/{self.user}", "project": self.project or "",
                "client": self.client or "", "entity_default": ""}[self.level]


RATE_LEVELS = ["task_project", "task", "user_project", "project", "client", "source_system", "entity_default"]


class FxRule(_Strict):
    """How a client's amounts are converted: ``spot`` (stored reference rate on the invoice date) or
    ``contract`` (the agreed ``contract_rate``: 1 ``contract_base`` = rate invoice currency)."""

    policy: Literal["spot", "contract"] = "spot"
    contract_rate: Decimal | None = Field(None, gt=0)
    contract_base: str | None = None
    agreed_on: date | None = None

    _c = field_validator("contract_base")(classmethod(lambda cls, v: _ccy_ok(v)))

    @model_validator(mode="after")
    def _contract_complete(self) -> FxRule:
        if self.policy == "contract" and (self.contract_rate is None or self.contract_base is None
                                          or self.agreed_on is None):
            raise ValueError("policy 'contract' needs contract_rate, contract_base and agreed_on "
                             "(e.g. contract_rate: '1.17', contract_base: GBP, agreed_on: 2026-01-01)")
        return self


class ClientMap(_Strict):
    """A client of the project system and its accounting contact. ``source_id`` is the single source
    of truth for the client's identity; ``aliases`` lists other source ids accepted as the same client
    (merge proposals become aliases once accepted)."""

    source_id: str
    name: str | None = Field(None, description="standardized name; defaults to the source name")
    contact_number: str | None = Field(None, description="accounting ContactNumber; default HARVEST-<source_id>")
    aliases: list[str] = []
    currency: str | None = Field(None, description="invoice currency; default: the client's source currency")
    jurisdiction: str | None = Field(None, description="tax jurisdiction (key of the entity's tax_codes)")
    payment_terms_days: int | None = Field(None, ge=0, le=365)
    internal: bool = False
    discount_percent: Decimal = Field(Decimal(0), ge=0, le=100)
    rounding: RoundingRule | None = None
    units: UnitRule | None = None
    fx: FxRule = FxRule()

    _c = field_validator("currency")(classmethod(lambda cls, v: _ccy_ok(v)))


class Milestone(_Strict):
    name: str
    amount: Decimal = Field(gt=0)
    on: date = Field(description="billed in the period containing this date")


class RetainerRule(_Strict):
    """A monthly retainer: ``fee`` buys ``hours``; hours beyond are billed at the normal rate (overage)."""

    fee: Decimal = Field(ge=0)
    hours: Decimal = Field(ge=0)


class ProjectMap(_Strict):
    source_id: str
    client: str | None = Field(None, description="canonical client source_id; needed for fee and retainer lines")
    name: str | None = None
    billing: Literal["hourly", "fixed_fee", "retainer", "non_billable"] = "hourly"
    item_code: str | None = None
    tracking_category: str | None = None
    tracking_option: str | None = None
    account_code: str | None = None
    rounding: RoundingRule | None = None
    units: UnitRule | None = None
    milestones: list[Milestone] = []
    retainer: RetainerRule | None = None
    expense_markup_percent: Decimal | None = Field(None, ge=0, le=1000,
                                                   description="markup on this project's expenses (wins over the rest)")

    @model_validator(mode="after")
    def _billing_complete(self) -> ProjectMap:
        if self.billing == "fixed_fee" and not self.milestones:
            raise ValueError("a fixed_fee project is billed by milestones: add milestones "
                             "(- {name: Phase 1, amount: '5000', on: 2026-10-31})")
        if self.billing == "retainer" and self.retainer is None:
            raise ValueError("a retainer project needs retainer: {fee: '2000', hours: '20'}")
        if self.billing in ("fixed_fee", "retainer") and self.client is None:
            raise ValueError(f"a {self.billing} project bills its fees to a client: add client: <client source_id>")
        if (self.tracking_category is None) != (self.tracking_option is None):
            raise ValueError("tracking_category and tracking_option go together: set both or neither")
        return self


class TaskMap(_Strict):
    source_id: str
    description: str | None = Field(None, description="line item description; default: the source task name")
    item_code: str | None = None
    account_code: str | None = None
    billable: bool | None = Field(None, description="false: never billed (internal task); empty: as the source says")


class TaxCode(_Strict):
    tax_type: str
    rate_percent: Decimal = Field(ge=0, le=100)


class TaxRules(_Strict):
    """Tax as the accounting system computes it: ``exclusive`` or ``inclusive`` line amounts, rounded per
    ``line`` (Xero's default) or once per ``invoice``; tax codes per jurisdiction."""

    amounts: Literal["exclusive", "inclusive"] = "exclusive"
    rounding: Literal["line", "invoice"] = "line"
    default_jurisdiction: str | None = None
    codes: dict[str, TaxCode] = {}


class ExpenseRules(_Strict):
    """Billable expenses are passed on to the client with a markup: the project's ``expense_markup_percent``,
    else the project system's own markup on the expense (when ``use_source_markup``), else ``markup_percent``."""

    markup_percent: Decimal = Field(Decimal(0), ge=0, le=1000)
    use_source_markup: bool = Field(True, description="use the project system's markup on the expense when it has one")
    account_code: str | None = Field(None, description="revenue account of expense lines (default: the project's, "
                                                       "then the entity's sales account)")
    tax_jurisdiction: str | None = Field(None, description="key of tax.codes for expense lines (default: the client's)")


class RateLimits(_Strict):
    """The highest rate a rate card may carry, in the card's currency: ``max`` (default 10,000), 100 × that in a
    currency without minor units (JPY, KRW, ...), or per currency in ``currencies`` (e.g. ``{JPY: 2000000}``)."""

    max: Decimal = Field(Decimal(10000), gt=0)
    currencies: dict[str, Annotated[Decimal, Field(gt=0)]] = {}

    @field_validator("currencies")
    @classmethod
    def _ccys(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        for ccy in v:
            _ccy_ok(ccy)
        return v

    def of(self, currency: str) -> Decimal:
        if currency in self.currencies:
            return self.currencies[currency]
        return self.max * (100 if MINOR_UNITS.get(currency) == 0 else 1)


class CsvExportSource(_Strict):
    """Time entries read from CSV exports dropped in a folder (entities whose ``source`` is ``csv``)."""

    kind: Literal["harvest", "toggl"] = Field(description="harvest: Harvest's detailed time report; toggl: "
                                                          "Toggl Track's detailed report")
    folder: str = Field(description="folder holding the entity's exports (*.csv): every file is read and the rows "
                                    "of the billing period kept; a relative path is relative to the working directory")
    decimal_separator: Literal[".", ","] = Field(".", description="the exports' decimal separator; a value that "
                                                 "reads differently under the other one is quarantined")
    encoding: str | None = Field(None, description="the exports' encoding (e.g. utf-8, utf-16, cp1252, latin-1); "
                                                   "empty: detected (UTF-8 with or without BOM, UTF-16 with BOM, "
                                                   "else cp1252)")
    delimiter: Literal[",", ";", "\t"] | None = Field(None, description="empty: detected (comma, semicolon or tab)")
    date_format: Literal["DD/MM/YYYY", "MM/DD/YYYY"] | None = Field(
        None, description="Toggl's Start date when it is not YYYY-MM-DD or DD.MM.YYYY")

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding {v!r}; use e.g. utf-8, utf-16, cp1252 or latin-1, or leave it "
                                 f"out to detect it") from None
        return v


Direction = Literal["one_way", "bidirectional"]
Cadence = Literal["realtime", "hourly", "daily", "weekly"]
CADENCES: tuple[Cadence, ...] = ("realtime", "hourly", "daily", "weekly")
# what each project system allows (mirrors connectors.project.SOURCE_CAPABILITIES; a test keeps them equal)
CHANGE_FEED_SOURCES = frozenset({"harvest"})
WRITE_BACK_SOURCES = frozenset({"harvest"})
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def _tz_ok(v: str, example: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {v!r}; use e.g. {example}") from None
    return v


def _cron_ok(v: str) -> str:
    fields = v.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(f"{v!r} is not a cron schedule of five fields (minute hour day-of-month month "
                         f"day-of-week, numbers, ranges, lists, steps or *), e.g. '0 5 * * *' for 05:00 every day")
    return v


class Automation(_Strict):
    """When the cadences tick (one schedule per cadence; each entity's ``cadence`` says which covers it)."""

    realtime_interval_seconds: int = Field(30, ge=5, le=3600, description="how often the change-feed sensor polls "
                                           "the project system for entities with cadence realtime")
    hourly_cron: str = Field("0 * * * *", description="entities with cadence hourly: their current period")
    daily_cron: str = Field("0 5 * * *", description="entities with cadence daily or realtime: their current "
                            "period (for realtime ones this also catches deletions the feed does not list)")
    weekly_cron: str = Field("0 5 * * 1", description="entities with cadence weekly: their current period")
    timezone: str = Field("UTC", description="IANA time zone the crons are read in")

    @field_validator("hourly_cron", "daily_cron", "weekly_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        return _cron_ok(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _tz_ok(v, "UTC or Europe/London")


class QboCompany(_Strict):
    """The QuickBooks Online company (realm) of an entity whose ``target`` is ``qbo``."""

    realm_id: str = Field(pattern=r"^[0-9]{1,20}$", description="the company's realmId (Intuit's company id)")
    home_currency: str = Field(description="the company's home currency (Preferences.CurrencyPrefs.HomeCurrency)")
    tax_model: Literal["us", "global"] = Field(
        "global", description="us: US sales tax (lines TAX/NON, one sales-tax code per document); global: a tax "
                              "code on every line (VAT, GST)")
    tax_codes: dict[str, str] = Field(
        default_factory=dict, description="our tax type (tax_type, the rules' tax types) → QuickBooks TaxCode name or "
                                          "id (global), or TAX / NON (us)")
    us_sales_tax_code: str | None = Field(None, description="us: the sales-tax TaxCode (name or id) of documents "
                                                            "with taxable lines; empty lets automated sales tax decide")
    custom_doc_numbers: bool = Field(False, description="the company's 'custom transaction numbers' setting: true "
                                                        "sends a DocNumber derived from our reference")
    items: dict[str, str] = Field(default_factory=dict, description="account code → Item (name or id) to sell "
                                                                    "under; else an item 'Services (code)'")
    accounts: dict[str, str] = Field(default_factory=dict, description="account code → Account name, where the "
                                                                       "company's accounts carry no number")


class EntityConfig(_Strict):
    key: str = Field(description="partition key of the entity, e.g. acme-uk")
    name: str
    timezone: str = Field(description="IANA time zone of the entity, e.g. Europe/London")
    base_currency: str
    source: Literal["harvest", "redmine", "csv"] = Field(
        "harvest", description="the project system the entity's time entries come from: harvest (time entries, "
                               "expenses, billed marks, change feed), redmine (time entries only) or csv "
                               "(exports in csv_export.folder)")
    csv_export: CsvExportSource | None = Field(None, description="where the exports are; required when source is csv")
    harvest_account_id: str | None = Field(None, description="Harvest-Account-Id; required when source is harvest")
    target: Literal["xero", "qbo"] = Field(
        "xero", description="the accounting system the entity's invoices are posted to: xero (Xero, the tenant "
                            "in xero_tenant_id) or qbo (QuickBooks Online)")
    xero_tenant_id: str | None = Field(None, description="Xero tenant id; required when target is xero")
    qbo: QboCompany | None = Field(None, description="the QuickBooks Online company; required when target is qbo")
    sales_account_code: str = "200"
    discount_account_code: str | None = None
    tax_type: str = "OUTPUT2"
    tax_rate_percent: Decimal = Decimal("20")
    payment_terms_days: int = 30
    require_approval: bool = True
    locked_through: date | None = Field(None, description="entries dated on or before are in a locked period")
    direction: Direction = Field("one_way", description="one_way: time becomes invoices; bidirectional: payments "
                                 "and credits are also written back to the project system (Harvest only)")
    cadence: Cadence | None = Field(None, description="how often the current period syncs: realtime (change feed), "
                                    "hourly, daily or weekly; empty: realtime when the source has a change feed, "
                                    "else daily")
    max_hours_per_entry: Decimal = Field(Decimal(24), gt=0, le=24, description="a longer entry is quarantined alone")
    max_hours_per_day: Decimal = Field(Decimal(24), gt=0, le=24, description="a person-day adding up to more is held "
                                       "whole for review (sync-pipeline hours decide)")
    use_source_rates: bool = Field(True, description="bill the project system's rate when no rate card matches")
    rate_limits: RateLimits = RateLimits()
    rounding: RoundingRule = RoundingRule()
    units: UnitRule = UnitRule()
    tax: TaxRules = TaxRules()
    expenses: ExpenseRules = ExpenseRules()
    clients: list[ClientMap] = Field([], description="when listed, a client not listed (nor an alias) is unknown")
    projects: list[ProjectMap] = Field([], description="when listed, a project not listed is unknown")
    tasks: list[TaskMap] = []
    rate_cards: list[RateCard] = []

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
        return _tz_ok(v, "Europe/London")

    @field_validator("base_currency")
    @classmethod
    def _ccy(cls, v: str) -> str:
        return _ccy_ok(v)  # type: ignore[return-value]

    @field_validator("xero_tenant_id")
    @classmethod
    def _tenant(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            ok = str(uuid.UUID(v)) == v.lower()
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{v!r} is not a Xero tenant id (a UUID such as 3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41); "
                             f"copy the organisation's tenantId from Xero's connections "
                             f"(GET https://api.xero.com/connections)")
        return v

    @model_validator(mode="after")
    def _references(self) -> EntityConfig:
        problems: list[str] = []
        if self.target == "xero" and not self.xero_tenant_id:
            problems.append("xero_tenant_id: required when target is xero (the organisation's tenantId from "
                            "GET https://api.xero.com/connections); set it, or set target: qbo")
        if self.target == "qbo" and self.qbo is None:
            problems.append("qbo: required when target is qbo (at least realm_id and home_currency of the "
                            "QuickBooks company); set it, or set target: xero")
        if self.source == "harvest" and not self.harvest_account_id:
            problems.append("harvest_account_id: required when source is harvest (the Harvest-Account-Id header "
                            "of the account); set it, or set source: redmine or csv")
        if self.source == "csv" and self.csv_export is None:
            problems.append("csv_export: required when source is csv: give kind (harvest or toggl) and the folder "
                            "of the exports")
        if self.direction == "bidirectional" and self.source not in WRITE_BACK_SOURCES:
            problems.append(f"direction: bidirectional is not supported for source {self.source}: its "
                            f"{'API' if self.source != 'csv' else 'exports'} cannot take payments or credits back "
                            f"(only {', '.join(sorted(WRITE_BACK_SOURCES))} can); use direction: one_way")
        if self.cadence == "realtime" and self.source not in CHANGE_FEED_SOURCES:
            problems.append(f"cadence: realtime needs a change feed of the project system, and source "
                            f"{self.source} has none; use hourly, daily or weekly")

        def dupes(kind: str, ids: list[str]) -> None:
            d = sorted({i for i in ids if ids.count(i) > 1})
            if d:
                problems.append(f"{kind}: source id(s) {', '.join(d)} listed twice; keep one entry per id")

        client_ids = [c.source_id for c in self.clients] + [a for c in self.clients for a in c.aliases]
        dupes("clients (source_id and aliases)", client_ids)
        dupes("projects", [p.source_id for p in self.projects])
        dupes("tasks", [t.source_id for t in self.tasks])
        canonical = {c.source_id for c in self.clients}
        projects = {p.source_id for p in self.projects}
        for i, rc in enumerate(self.rate_cards):
            if self.clients and rc.client is not None and rc.client not in canonical:
                problems.append(f"rate_cards.{i}.client: client {rc.client!r} is not a canonical source_id in "
                                f"clients; use one of {sorted(canonical)}")
            if self.projects and rc.project is not None and rc.project not in projects:
                problems.append(f"rate_cards.{i}.project: project {rc.project!r} is not in projects; add it there "
                                f"or fix the id")
        for i, p in enumerate(self.projects):
            if self.clients and p.client is not None and p.client not in canonical:
                problems.append(f"projects.{i}.client: client {p.client!r} is not a canonical source_id in clients; "
                                f"use one of {sorted(canonical)}")
        problems.extend(self._rate_problems())
        seen: dict[tuple[str, str], list[tuple[int, date, date]]] = {}
        for i, rc in enumerate(self.rate_cards):
            to = rc.valid_to or date(9999, 12, 31)
            for j, a, b in seen.get((rc.level, rc.match_key), []):
                if rc.valid_from <= b and a <= to:
                    problems.append(f"rate_cards.{i}: overlaps rate_cards.{j} ({rc.level} {rc.match_key or '(entity)'} "
                                    f"from {max(a, rc.valid_from)} to {min(b, to)}): end one card (valid_to) the day "
                                    f"before the other begins")
            seen.setdefault((rc.level, rc.match_key), []).append((i, rc.valid_from, to))
        juris = set(self.tax.codes)
        for i, c in enumerate(self.clients):
            if c.jurisdiction is not None and c.jurisdiction not in juris:
                problems.append(f"clients.{i}.jurisdiction: {c.jurisdiction!r} has no entry in tax.codes; "
                                f"add tax.codes.{c.jurisdiction} or use one of {sorted(juris) or '(none defined)'}")
        if self.expenses.tax_jurisdiction is not None and self.expenses.tax_jurisdiction not in juris:
            problems.append(f"expenses.tax_jurisdiction: {self.expenses.tax_jurisdiction!r} has no entry in tax.codes; "
                            f"add tax.codes.{self.expenses.tax_jurisdiction} or use one of "
                            f"{sorted(juris) or '(none defined)'}")
        if self.tax.default_jurisdiction is not None and self.tax.default_jurisdiction not in juris:
            problems.append(f"tax.default_jurisdiction: {self.tax.default_jurisdiction!r} has no entry in tax.codes")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _rate_problems(self) -> list[str]:
        """Each card within its currency's rate limit and, when its client is known, in that client's currency."""
        problems: list[str] = []
        project_client = {p.source_id: p.client for p in self.projects}
        for i, rc in enumerate(self.rate_cards):
            client_id = rc.client or project_client.get(rc.project or "")
            client = self.client(client_id) if client_id else None
            if rc.currency and client is not None and client.currency and rc.currency != client.currency:
                of = f" of project {rc.project!r}" if rc.client is None else ""
                problems.append(f"rate_cards.{i}.currency: {rc.currency!r} is not the currency of client "
                                f"{client.source_id!r} ({client.currency}){of}; use {client.currency} or leave "
                                f"currency out")
            ccy = rc.currency or (client.currency if client else None) or self.base_currency
            if rc.rate > self.rate_limits.of(ccy):
                problems.append(f"rate_cards.{i}.rate: {rc.rate} is above the highest rate this entity allows "
                                f"({self.rate_limits.of(ccy)} {ccy}); correct the rate, or raise rate_limits.max "
                                f"(or rate_limits.currencies.{ccy})")
        return problems

    @property
    def sync_cadence(self) -> Cadence:
        """The cadence in force: the mapping's, else realtime where the source has a change feed, else daily."""
        return self.cadence or ("realtime" if self.source in CHANGE_FEED_SOURCES else "daily")

    # lookups used by the billing rules -------------------------------------------------------
    def client(self, source_id: str) -> ClientMap | None:
        for c in self.clients:
            if c.source_id == source_id or source_id in c.aliases:
                return c
        return None

    def billing_currency(self, source_id: str | None) -> str:
        """The currency a client is invoiced in: its mapping's ``currency``, else the entity's base currency."""
        c = self.client(source_id) if source_id else None
        return (c.currency if c else None) or self.base_currency

    def tax_code(self, jurisdiction: str | None) -> TaxCode:
        j = jurisdiction or self.tax.default_jurisdiction
        if j is not None and j in self.tax.codes:
            return self.tax.codes[j]
        return TaxCode(tax_type=self.tax_type, rate_percent=self.tax_rate_percent)


class Mapping(_Strict):
    version: int = MAPPING_VERSION
    automation: Automation = Automation()
    entities: list[EntityConfig]

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v not in SUPPORTED_VERSIONS:
            raise ValueError(f"mapping version {v} is not supported; this release reads versions "
                             f"{', '.join(map(str, SUPPORTED_VERSIONS))} (set version: {MAPPING_VERSION})")
        return v

    @field_validator("entities")
    @classmethod
    def _unique(cls, v: list[EntityConfig]) -> list[EntityConfig]:
        keys = [e.key for e in v]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate entity keys: {', '.join(dupes)}")
        return v

    def with_cadence(self, *cadences: Cadence) -> list[str]:
        """Keys of the entities whose cadence in force is one of ``cadences``."""
        return [e.key for e in self.entities if e.sync_cadence in cadences]

    def entity(self, key: str) -> EntityConfig:
        for e in self.entities:
            if e.key == key:
                return e
        known = ", ".join(e.key for e in self.entities) or "(none)"
        raise MappingError(f"entity {key!r} is not in the mapping; known entities: {known}")


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid mapping file {path}:"]
    lines.extend(f"  - {p}" for p in explain(err))
    return "\n".join(lines)


_NUMBER = "is not a number: write one, quoted to keep it exact, e.g. '120.50'"
_WHOLE = "is not a whole number: write one, e.g. 30"
_DATE = "is not a date: write YYYY-MM-DD, e.g. 2026-10-31"
_MAP = "is not a mapping of keys: write key: value pairs (see docs/mapping.md)"
TYPE_FIXES = {  # pydantic's type errors say what is wrong; these add what to write instead
    "int_parsing": _WHOLE, "int_type": _WHOLE, "int_from_float": _WHOLE,
    "decimal_parsing": _NUMBER, "decimal_type": _NUMBER, "float_parsing": _NUMBER, "float_type": _NUMBER,
    "bool_parsing": "is not true or false: write true or false", "bool_type": "is not true or false: write true or false",
    "date_parsing": _DATE, "date_type": _DATE, "date_from_datetime_parsing": _DATE, "date_from_datetime_inexact": _DATE,
    "string_type": "is not text: write text, quoted if YAML would read it as a number or a date (e.g. '0042')",
    "list_type": "is not a list: write one item per line, each starting with '- '",
    "dict_type": _MAP, "model_type": _MAP, "model_attributes_type": _MAP,
}


def _shown(value: object) -> str:
    s = repr(str(value)) if not isinstance(value, dict | list) else repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


def explain(err: ValidationError) -> list[str]:
    """One line per problem: the full key path, then what is wrong and what to do."""
    out: list[str] = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key: remove it or check its spelling against docs/mapping.md"
        elif e["type"] == "missing":
            msg = "required key is missing: add it (see docs/mapping.md)"
        elif e["type"] in TYPE_FIXES:
            msg = f"{_shown(e.get('input'))} {TYPE_FIXES[e['type']]}"
        elif e["type"] != "value_error":  # a constraint (bounds, choices, lengths): pydantic says which
            fix = "use one of them" if e["type"] in ("literal_error", "enum") else "change the value"
            msg = f"{msg} (got {_shown(e.get('input'))}): {fix}"
        for part in msg.split("\n"):
            nested = part.split(": ", 1)
            if len(nested) == 2 and re.match(r"^[a-z_]+(\.[A-Za-z0-9_]+)*$", nested[0]):
                out.append(f"{loc}.{nested[0]}: {nested[1]}" if loc else part)
            else:
                out.append(f"{loc}: {part}" if loc else part)
    return out


_loaded: dict[tuple[str, str], Mapping] = {}


def load_mapping(path: str | Path) -> Mapping:
    """The validated mapping. Every step of a run reads it: a file already validated in this process (same path,
    same bytes) is not parsed again (the models are frozen, so sharing one is safe)."""
    p = Path(path)
    if not p.exists():
        raise MappingError(f"mapping file not found: {p}; copy docs/mapping.example.yaml and edit it")
    text = p.read_text(encoding="utf-8")
    key = (str(p.resolve()), hashlib.sha256(text.encode("utf-8")).hexdigest())
    cached = _loaded.get(key)
    if cached is None:
        cached = _parse_mapping(p, text)
        if len(_loaded) > 64:  # tests write many mappings; a deployment has one
            _loaded.clear()
        _loaded[key] = cached
    return cached


def _parse_mapping(p: Path, text: str) -> Mapping:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise MappingError(f"mapping file {p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise MappingError(f"mapping file {p} must be a YAML mapping at the top level")
    try:
        return Mapping.model_validate(data)
    except ValidationError as e:
        raise MappingError(_format_errors(p, e)) from None
