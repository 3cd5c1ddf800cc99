"""The project system behind one small interface: :class:`ProjectSource`.

Assets and sensors know only this interface. Which system an entity's time entries come from is the mapping's
``source``, turned into a source once, by :func:`open_source`; what differs between the systems is said as
*capabilities*, never as a branch on the system's name:

| capability | what it means | harvest | redmine | csv |
|---|---|---|---|---|
| ``change_feed`` | records changed since an instant (``updated_since``) | yes | no | no |
| ``expenses`` | expenses besides time entries | yes | no | no |
| ``invoice_marks`` | entries can be marked invoiced (``is_billed``, ``external_reference``) | yes | no | no |
| ``heartbeat_probe`` | one time entry may be edited by us (the heartbeat's synthetic change) | yes | no | no |
| ``payment_write_back`` | invoices and their payments can be written (mapping ``direction: bidirectional``) | yes | no | no |
| ``file_import`` | an export file may be imported (``sync-pipeline import csv``): the next sync reads it back | no | no | yes |

Without a change feed an entity is synced on its cadence's schedule; without expenses ``raw_expenses`` is empty;
without invoice marks our ledger alone keeps entries from being billed twice.

A new project system is one class implementing :class:`ProjectSource` (usually on :class:`SourceBase`) and one
line in :data:`SOURCES`; see docs/connectors.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import pandas as pd

from sync_pipeline.connectors import harvest as harvest_api
from sync_pipeline.connectors import redmine as redmine_api
from sync_pipeline.connectors.csv_exports import CsvOptions
from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.domain.periods import Period

if TYPE_CHECKING:
    from sync_pipeline.connectors.harvest import HarvestClient
    from sync_pipeline.connectors.redmine import RedmineClient
    from sync_pipeline.contracts.mapping import EntityConfig

Capability = Literal["change_feed", "expenses", "invoice_marks", "heartbeat_probe", "payment_write_back",
                     "file_import"]
CAPABILITIES: dict[str, str] = {
    "change_feed": "a change feed (records updated since an instant)",
    "expenses": "expenses",
    "invoice_marks": "marks on entries saying they are invoiced",
    "heartbeat_probe": "the heartbeat probe (an entry we may edit)",
    "payment_write_back": "invoices and payments written back",
    "file_import": "import of export files (sync-pipeline import csv)",
}
Pages = Iterable[list[dict[str, Any]]]
# A source record → its warehouse row, or a Rejected naming what is wrong (connectors.strict)
Reader = Callable[[dict[str, Any], str], "dict[str, Any] | Rejected"]


class UnsupportedCapability(RuntimeError):
    """A source was asked for something its system does not have (check :meth:`ProjectSource.supports` first)."""

    def __init__(self, system: str, capability: str) -> None:
        super().__init__(f"the {system} source has no {CAPABILITIES.get(capability, capability)}; "
                         f"check supports({capability!r}) before asking for it")
        self.system, self.capability = system, capability


@dataclass(frozen=True)
class PreparedRows:
    """What a source that reads whole files settles before its rows are streamed: rows refused (one row per
    problem, for ``raw_time_entries_quarantine``), rows superseded by a newer file, and figures for the asset."""

    quarantine: pd.DataFrame
    superseded: pd.DataFrame
    quarantined: int
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeEntryRead:
    """A period's time entries as pages and how each record becomes a ``raw_time_entries`` row, strictly.
    ``prepared`` is set when the source settled refusals itself (files); otherwise records that do not read are
    the reader's :class:`Rejected`."""

    pages: Pages
    reader: Reader
    prepared: PreparedRows | None = None


class ChangeFeed(Protocol):
    """Records changed at or after ``updated_since`` (ISO 8601 UTC), and deletions where the system lists them."""

    def time_entries(self, *, updated_since: str | None = None) -> Iterator[list[dict[str, Any]]]: ...

    def expenses(self, *, updated_since: str | None = None) -> Iterator[list[dict[str, Any]]]: ...

    def deletions(self, resource: str, updated_since: str | None = None) -> list[dict[str, Any]]: ...


class EntryWriter(Protocol):
    """Edits of single entries in the project system (invoice marks; the heartbeat's probe)."""

    def update_time_entry(self, entry_id: str | int, changes: dict[str, Any]) -> dict[str, Any]: ...

    def update_expense(self, expense_id: str | int, changes: dict[str, Any]) -> dict[str, Any]: ...


class SettlementWriter(Protocol):
    """Invoices and their payments in the project system (two-way sync: ``payment_write_back``)."""

    def invoices(self, *, client_id: str | None = None) -> Iterator[list[dict[str, Any]]]: ...

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def invoice_payments(self, invoice_id: str | int) -> list[dict[str, Any]]: ...

    def create_invoice_payment(self, invoice_id: str | int, body: dict[str, Any]) -> dict[str, Any]: ...

    def delete_invoice_payment(self, invoice_id: str | int, payment_id: str | int) -> None: ...


@runtime_checkable
class ProjectSource(Protocol):
    system: str
    capabilities: frozenset[str]

    def supports(self, capability: Capability) -> bool: ...

    def time_entries(self, period: Period) -> TimeEntryRead: ...

    def expenses(self, period: Period) -> tuple[Pages, Reader]:
        """Pages of the period's expenses (``expenses``)."""
        ...

    def change_feed(self) -> ChangeFeed:
        """The system's ``updated_since`` feeds (``change_feed``)."""
        ...

    def entry_writer(self) -> EntryWriter:
        """Single-entry edits (``invoice_marks``, ``heartbeat_probe``)."""
        ...

    def settlement_writer(self) -> SettlementWriter:
        """Invoices and payments written back (``payment_write_back``)."""
        ...

    def figures(self) -> dict[str, object]:
        """Requests, retries and the connection's health so far, for asset metadata."""
        ...

    def close(self) -> None: ...


class SourceBase:
    """Capabilities and lazily opened clients; every capability method refuses unless a subclass has it."""

    system = "?"
    capabilities: frozenset[str] = frozenset()

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def _refuse(self, capability: str) -> UnsupportedCapability:
        return UnsupportedCapability(self.system, capability)

    def time_entries(self, period: Period) -> TimeEntryRead:
        raise NotImplementedError

    def expenses(self, period: Period) -> tuple[Pages, Reader]:
        raise self._refuse("expenses")

    def change_feed(self) -> ChangeFeed:
        raise self._refuse("change_feed")

    def entry_writer(self) -> EntryWriter:
        raise self._refuse("invoice_marks")

    def settlement_writer(self) -> SettlementWriter:
        raise self._refuse("payment_write_back")

    def figures(self) -> dict[str, object]:
        return {"api_requests": 0, "api_retries": 0}

    def close(self) -> None:
        pass


class _ApiSource(SourceBase):
    """A source behind an HTTP client, opened on first use (checking a capability never connects)."""

    def __init__(self, connect: Callable[[], Any], health: Callable[[], dict[str, object]] | None = None) -> None:
        self._connect, self._health, self._client = connect, health, None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def figures(self) -> dict[str, object]:
        http = self._client.http if self._client is not None else None
        health = {f"{self.system}_{k}": v for k, v in (self._health() if self._health else {}).items()}
        return {"api_requests": http.request_count if http else 0, "api_retries": http.retry_count if http else 0,
                **health}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class HarvestSource(_ApiSource):
    """Harvest API v2: time entries, expenses, ``updated_since`` feeds, invoice marks, the heartbeat probe."""

    system = "harvest"
    capabilities = frozenset({"change_feed", "expenses", "invoice_marks", "heartbeat_probe", "payment_write_back"})
    client: HarvestClient

    def time_entries(self, period: Period) -> TimeEntryRead:
        return TimeEntryRead(self.client.time_entries(start=period.start, end=period.end),
                             harvest_api.read_time_entry)

    def expenses(self, period: Period) -> tuple[Pages, Reader]:
        return self.client.expenses(start=period.start, end=period.end), harvest_api.read_expense

    def change_feed(self) -> ChangeFeed:
        return self.client

    def entry_writer(self) -> EntryWriter:
        return self.client

    def settlement_writer(self) -> SettlementWriter:
        return self.client


class RedmineSource(_ApiSource):
    """Redmine REST: time entries only. Redmine has no currency: ``currency_of(client_id)`` says which one a
    client is billed in (the mapping's, else the entity's base currency)."""

    system = "redmine"
    client: RedmineClient

    def __init__(self, connect: Callable[[], RedmineClient], currency_of: Callable[[str | None], str]) -> None:
        super().__init__(connect)
        self._currency_of = currency_of

    def time_entries(self, period: Period) -> TimeEntryRead:
        return TimeEntryRead(self.client.time_entries(start=period.start, end=period.end),
                             redmine_api.time_entry_reader(self.client.projects(), self._currency_of))


class CsvFolderSource(SourceBase):
    """Harvest or Toggl CSV exports dropped in a folder (``connectors.csv_folder``): read whole (exports are
    small); rows that do not read are quarantined with file, row and column; rows a newer export covers are
    superseded."""

    system = "csv"
    capabilities = frozenset({"file_import"})

    def __init__(self, folder: str, kind: str, options: CsvOptions) -> None:
        self.folder, self.kind, self.options = folder, kind, options

    def time_entries(self, period: Period) -> TimeEntryRead:
        from sync_pipeline.connectors.csv_folder import csv_rows_as_pages, import_csv_folder

        imported = import_csv_folder(self.folder, self.kind, period, self.options)
        pages, reader = csv_rows_as_pages(imported.entries)
        quarantined = int(imported.quarantine[["file", "row"]].drop_duplicates().shape[0])
        return TimeEntryRead(pages, reader, PreparedRows(
            imported.quarantine, imported.superseded, quarantined,
            {"quarantined_export_rows": quarantined, "export_rows_outside_period": imported.outside_period,
             "superseded_export_rows": len(imported.superseded), "exports": "\n".join(imported.files)}))


def _offline(*_a: object) -> Any:
    raise RuntimeError("a source opened with OFFLINE connections may only be asked what it supports")


@dataclass(frozen=True)
class Connections:
    """How a source reaches its system: ``harvest(account_id)`` and ``redmine()`` open clients (only when the
    source is first used); ``harvest_health()`` gives the shared limiter's and breaker's figures."""

    harvest: Callable[[str], HarvestClient]
    redmine: Callable[[], RedmineClient]
    harvest_health: Callable[[], dict[str, object]] | None = None


def _harvest(entity: EntityConfig, c: Connections) -> ProjectSource:
    account = entity.harvest_account_id or ""
    return HarvestSource(lambda: c.harvest(account), c.harvest_health)


def _redmine(entity: EntityConfig, c: Connections) -> ProjectSource:
    return RedmineSource(c.redmine, entity.billing_currency)


def _csv(entity: EntityConfig, c: Connections) -> ProjectSource:
    export = entity.csv_export
    assert export is not None  # the mapping requires csv_export for source csv
    return CsvFolderSource(export.folder, export.kind, CsvOptions(
        decimal_separator=export.decimal_separator, encoding=export.encoding, delimiter=export.delimiter,
        date_format=export.date_format))


OFFLINE = Connections(harvest=_offline, redmine=_offline)  # to ask what a source supports (that never connects)


SOURCES: dict[str, Callable[[EntityConfig, Connections], ProjectSource]] = {
    "harvest": _harvest, "redmine": _redmine, "csv": _csv}
SOURCE_CAPABILITIES: dict[str, frozenset[str]] = {
    "harvest": HarvestSource.capabilities, "redmine": RedmineSource.capabilities, "csv": CsvFolderSource.capabilities}


def open_source(entity: EntityConfig, connections: Connections) -> ProjectSource:
    """The entity's project system (the mapping's ``source``) as a :class:`ProjectSource`."""
    try:
        make = SOURCES[entity.source]
    except KeyError:
        raise ValueError(f"entity {entity.key}: source {entity.source!r} is not one of {', '.join(SOURCES)}") from None
    return make(entity, connections)
