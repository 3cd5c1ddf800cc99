"""Feed N hostile records per source through extract → clean → billables; count crashes, coerced and lost.

Sources: Harvest v2 time entries, Harvest expenses, Redmine time entries, and the Harvest and Toggl CSV exports.
Each gets ``--records`` records from :mod:`sync_pipeline.bench.hostile` (seeded; about 40 % with one odd field,
5 % that the source marks non-billable, the rest good), all in one partition (January 2026), through the functions
the assets run:

- API sources: the strict reader and ``services.extract.extract_time_entries_partition`` (expenses:
  ``read_pages`` and the contract-checked write of ``raw_expenses``), then ``billing.clean_time_entries_partition``
  and ``billing.billables_partition`` (expenses: ``clean_expenses`` and ``expense_billables``);
- CSV exports: the file in an exports folder read by ``connectors.csv_folder.import_csv_folder`` (what the
  ``raw_time_entries`` asset reads for ``source: csv``), then the same extract, clean and billables.

Every record has a known strict verdict (:class:`~sync_pipeline.bench.hostile.Case`), so per source it counts:

- ``crashes``: partitions that raised (all their records are then lost too);
- ``quarantined``: records quarantined (by the reader, or classified quarantined);
- ``coerced``: odd records read as something (billed, or classified other than quarantined) and records billed
  with an amount other than their own;
- ``lost``: good records not billed, and records found nowhere (neither classified nor quarantined);
- ``records/s``: records over the (wall-clock) seconds of extract + clean + billables, and per CPU second of
  this process (the figure a busy machine distorts least; DuckDB runs on one thread in the extract).

Targets: 0 crashes, 0 coerced, 0 lost, at least 5,000 records/s per source.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sync_pipeline.bench import hostile
from sync_pipeline.bench.hostile import Case
from sync_pipeline.contracts.mapping import EntityConfig, Mapping
from sync_pipeline.domain.periods import Period

PERIOD = Period(2026, 1)
TODAY = date(2026, 2, 15)
TARGET_RECORDS_PER_S = 5_000
SOURCES = ("harvest_time_entries", "harvest_expenses", "redmine", "harvest_csv", "toggl_csv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", type=int, default=10_000, help="hostile records per source (default 10,000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated records (default 0)")
    p.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES), help="which sources (all)")


def bench_entity() -> EntityConfig:
    """Source rates, approvals not required (every good record bills), a default card for Redmine (no rates)."""
    return Mapping.model_validate({"version": 2, "entities": [{
        "key": "fuzz", "name": "Fuzz Ltd", "timezone": "Europe/London", "base_currency": "GBP",
        "harvest_account_id": "1", "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41",
        "require_approval": False, "use_source_rates": True,
        "rate_cards": [{"rate": "100", "valid_from": "2025-01-01"}]}]}).entities[0]


@dataclass
class Tally:
    inputs: int = 0
    crashes: int = 0
    quarantined: int = 0
    coerced: int = 0
    lost: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time: the figure a busy machine distorts least
    crash: str = ""  # the first crash, for the person reading the figures

    @property
    def records_per_s(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    @property
    def records_per_cpu_s(self) -> float:
        return self.inputs / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.coerced or self.lost) and self.records_per_s >= TARGET_RECORDS_PER_S

    def line(self) -> str:
        return (f"inputs {self.inputs:,} | crashes {self.crashes} | quarantined {self.quarantined:,} | "
                f"coerced {self.coerced} | lost {self.lost} | {self.records_per_s:,.0f} records/s "
                f"({self.records_per_cpu_s:,.0f} per CPU second)"
                + (f" | first crash: {self.crash}" if self.crash else ""))


@dataclass(frozen=True)
class Outcome:
    """What the pipeline did with one partition: per record key (source id, or ``position N`` for a record the
    reader rejected without a readable id), billed amounts, dispositions, quarantined keys."""

    billed: dict[str, Decimal]
    disposition: dict[str, str]
    rejected: set[str]


def tally(cases: list[Case], keys: list[str], outcome: Outcome | None, seconds: float, cpu: float = 0.0,
          crash: str = "") -> Tally:
    t = Tally(inputs=len(cases), seconds=seconds, cpu_seconds=cpu)
    if outcome is None:
        t.crashes, t.lost, t.crash = 1, len(cases), crash
        return t
    for i, (case, key) in enumerate(zip(cases, keys, strict=True)):
        position = f"position {i + 1}"
        quarantined = key in outcome.rejected or position in outcome.rejected or \
            outcome.disposition.get(key) == "quarantined"
        billed = outcome.billed.get(key)
        t.quarantined += quarantined
        if case.must_quarantine and not quarantined or billed is not None and billed != case.bill_hours:
            t.coerced += 1
        elif case.bill_hours is not None and billed is None or not (
                quarantined or key in outcome.disposition):
            t.lost += 1
    return t


def _run(cases: list[Case], keys: list[str], pipeline: Callable[[], Outcome]) -> Tally:
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        outcome = pipeline()
    except Exception as e:  # noqa: BLE001 - a crash is what this bench counts
        return tally(cases, keys, None, time.perf_counter() - t0, time.process_time() - c0,
                     f"{type(e).__name__}: {str(e)[:120]}")
    return tally(cases, keys, outcome, time.perf_counter() - t0, time.process_time() - c0)


def _time_entry_outcome(wh: Any, entity: EntityConfig, quarantine: Any, key_of: dict[str, str] | None = None
                        ) -> Outcome:
    from sync_pipeline.services import billing

    billing.clean_time_entries_partition(wh, entity, PERIOD, TODAY)
    billing.billables_partition(wh, entity, PERIOD, TODAY)
    clean = wh.read_columns("clean_time_entries", entity.key, PERIOD.key, ["entry_id", "disposition"]).to_pydict()
    bills = wh.read_columns("billables", entity.key, PERIOD.key, ["entry_id", "hours"]).to_pydict()
    k = key_of or {}
    return Outcome({k.get(i, i): Decimal(h) for i, h in zip(bills["entry_id"], bills["hours"], strict=True)},
                   {k.get(i, i): d for i, d in zip(clean["entry_id"], clean["disposition"], strict=True)},
                   set(quarantine))


def api_time_entries(cases: list[Case], keys: list[str], reader: Callable[..., Any], root: Path) -> Tally:
    from sync_pipeline.services.extract import extract_time_entries_partition
    from sync_pipeline.store.warehouse import Warehouse

    entity, wh = bench_entity(), Warehouse(root)
    docs = [c.doc for c in cases]

    def pipeline() -> Outcome:
        pages = (docs[i:i + 2000] for i in range(0, len(docs), 2000))  # Harvest's page size
        done = extract_time_entries_partition(pages, wh, entity.key, PERIOD, flatten=reader)
        return _time_entry_outcome(wh, entity, done["quarantine"]["record"])

    return _run(cases, keys, pipeline)


def harvest_expenses(cases: list[Case], root: Path) -> Tally:
    import pandas as pd

    from sync_pipeline.connectors.harvest import read_expense
    from sync_pipeline.contracts.warehouse import CleanExpense, ExpenseBillable, RawExpense
    from sync_pipeline.services import billing
    from sync_pipeline.services.extract import read_pages
    from sync_pipeline.store.warehouse import Warehouse

    entity, wh, e, p = bench_entity(), Warehouse(root), "fuzz", PERIOD.key
    docs = [c.doc for c in cases]

    def pipeline() -> Outcome:  # what the raw_expenses, clean_expenses and expense_billables assets run
        read = read_pages((docs[i:i + 2000] for i in range(0, len(docs), 2000)), read_expense)
        raw = pd.DataFrame(read.rows, columns=list(RawExpense.to_schema().columns))
        wh.write("raw_expenses", e, p, raw.drop_duplicates("expense_id", keep="last"), RawExpense)
        clean = billing.clean_expenses(wh.read("raw_expenses", e, p), entity, PERIOD, TODAY)
        wh.write("clean_expenses", e, p, clean, CleanExpense)
        bills = billing.expense_billables(wh.read("clean_expenses", e, p), entity, PERIOD)
        wh.write("expense_billables", e, p, bills, ExpenseBillable)
        return Outcome({i: Decimal(v) for i, v in zip(bills["expense_id"], bills["total_cost"], strict=True)},
                       dict(zip(clean["expense_id"], clean["disposition"], strict=True)),
                       {r.record for r in read.rejected})

    return _run(cases, [str(500_000 + i) for i in range(len(cases))], pipeline)


def csv_export(cases: list[Case], kind: str, header: list[str], root: Path) -> Tally:
    from sync_pipeline.connectors.csv_folder import csv_rows_as_pages, import_csv_folder
    from sync_pipeline.services.extract import extract_time_entries_partition
    from sync_pipeline.store.warehouse import Warehouse

    entity, wh = bench_entity(), Warehouse(root / "warehouse")
    folder = root / "exports"
    folder.mkdir()
    text = hostile.csv_text(header, cases)
    notes = "Notes" if kind == "harvest" else "Description"

    def pipeline() -> Outcome:  # what the raw_time_entries asset runs for an entity with source: csv
        (folder / f"{kind}-2026-01.csv").write_text(text, encoding="utf-8")
        imported = import_csv_folder(folder, kind, PERIOD)
        key_of = dict(zip(imported.entries["entry_id"], imported.entries["notes"], strict=True))
        pages, flatten = csv_rows_as_pages(imported.entries)
        done = extract_time_entries_partition(pages, wh, entity.key, PERIOD, flatten=flatten)
        rejected = {f"rec-{int(r) - 2}" for r in imported.quarantine["row"]}  # row 1 is the header
        return _time_entry_outcome(wh, entity, [*rejected, *done["quarantine"]["record"]], key_of)

    return _run(cases, [c.doc[notes] for c in cases], pipeline)


def fuzz(n: int, seed: int = 0, sources: tuple[str, ...] | list[str] = SOURCES) -> dict[str, Tally]:
    """The figures per source (see the module's docstring)."""
    from sync_pipeline.connectors.harvest import read_time_entry
    from sync_pipeline.services.extract import redmine_reader

    out: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        for s in sources:
            root = Path(tmp) / s
            if s == "harvest_time_entries":
                cases = hostile.harvest_time_entry_cases(n, seed)
                out[s] = api_time_entries(cases, [str(i + 1) for i in range(n)], read_time_entry, root)
            elif s == "harvest_expenses":
                out[s] = harvest_expenses(hostile.harvest_expense_cases(n, seed), root)
            elif s == "redmine":
                cases = hostile.redmine_cases(n, seed)
                reader = redmine_reader(hostile.REDMINE_PROJECTS, lambda _client: "GBP")
                out[s] = api_time_entries(cases, [str(i + 1) for i in range(n)], reader, root)
            elif s == "harvest_csv":
                root.mkdir(parents=True)
                out[s] = csv_export(hostile.harvest_csv_cases(n, seed), "harvest", hostile.HARVEST_CSV_HEADER, root)
            elif s == "toggl_csv":
                root.mkdir(parents=True)
                out[s] = csv_export(hostile.toggl_csv_cases(n, seed), "toggl", hostile.TOGGL_CSV_HEADER, root)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures = fuzz(args.records, args.seed, args.sources)
    if getattr(args, "json", False):
        return {**{s: {**asdict(t), "records_per_s": round(t.records_per_s),
                       "records_per_cpu_s": round(t.records_per_cpu_s)} for s, t in figures.items()},
                "ok": all(t.ok for t in figures.values())}
    return {**{s: t.line() for s, t in figures.items()},
            "targets": f"0 crashes, 0 coerced, 0 lost, >= {TARGET_RECORDS_PER_S:,} records/s per source",
            "ok": all(t.ok for t in figures.values())}
