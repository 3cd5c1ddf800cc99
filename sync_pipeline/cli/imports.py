"""``sync-pipeline import csv``: load a Harvest or Toggl CSV export as an entity's raw time entries.

    sync-pipeline import csv --kind harvest --entity acme-uk --period 2026-10 harvest_time_report.csv
    sync-pipeline import csv --kind toggl --entity acme-uk --period 2026-10 Toggl_Track_detailed.csv

Rows of the period become the ``raw_time_entries`` partition (the billing assets downstream read it);
rows that cannot be read are written to ``raw_time_entries_quarantine`` with their row number, column
and problem, and listed here. Exit code 1 when anything was quarantined.
"""

from __future__ import annotations

import argparse

from sync_pipeline.cli import UserError


def cmd_import_csv(args: argparse.Namespace) -> int:
    from sync_pipeline.connectors.csv_exports import CsvFormatError, CsvOptions
    from sync_pipeline.contracts.warehouse import RawTimeEntry
    from sync_pipeline.defs import settings
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.services.csv_import import import_csv_export
    from sync_pipeline.store.warehouse import Warehouse

    options = CsvOptions(decimal_separator=args.decimal_separator, encoding=args.encoding,
                         delimiter={"tab": "\t"}.get(args.delimiter, args.delimiter), date_format=args.date_format)
    try:
        period = Period.parse(args.period)
        result = import_csv_export(args.file, args.kind, period, options)
    except CsvFormatError as e:
        raise UserError(str(e)) from None
    except (ValueError, OSError) as e:
        raise UserError(f"{args.file}: {e}") from None
    wh = Warehouse(args.warehouse or settings.warehouse_root())
    path = wh.write("raw_time_entries", args.entity, period.key, result.entries, RawTimeEntry)
    print(f"{len(result.entries)} entries of {period.key} written to {path} (read {result.files[0]})")
    if result.outside_period:
        print(f"{result.outside_period} entries outside {period.key} left out (import them with their own period)")
    if len(result.quarantine):
        q = wh.write("raw_time_entries_quarantine", args.entity, period.key, result.quarantine)
        print(f"{result.quarantine['row'].nunique()} rows quarantined ({len(result.quarantine)} problems) in {q}:")
        for r in result.quarantine.itertuples():
            where = f"row {r.row}" + (f", column {r.column!r}" if r.column else "")
            print(f"  {where}: {r.problem}")
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import time entries from a CSV export", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="import_command", required=True)
    csv = s.add_parser("csv", help="a Harvest detailed time report or a Toggl detailed report")
    csv.add_argument("file")
    csv.add_argument("--kind", choices=["harvest", "toggl"], required=True)
    csv.add_argument("--entity", required=True)
    csv.add_argument("--period", required=True, help="YYYY-MM")
    csv.add_argument("--decimal-separator", choices=[".", ","], default=".",
                     help="the export's decimal separator (default '.'); ambiguous values are quarantined")
    csv.add_argument("--encoding", help="default: detected (UTF-8 with or without BOM, UTF-16 with BOM, else cp1252)")
    csv.add_argument("--delimiter", choices=[",", ";", "tab"], help="default: detected (comma, semicolon or tab)")
    csv.add_argument("--date-format", choices=["DD/MM/YYYY", "MM/DD/YYYY"],
                     help="Toggl's Start date when it is not YYYY-MM-DD or DD.MM.YYYY")
    csv.add_argument("--warehouse", help="warehouse root (default: SYNC_PIPELINE_WAREHOUSE or data/warehouse)")
    csv.set_defaults(func=cmd_import_csv)
