"""``sync-pipeline import csv``: file a Harvest or Toggl CSV export as an entity's time entries.

    sync-pipeline import csv --entity csv-co --period 2026-10 harvest_time_report.csv
    sync-pipeline import csv --entity csv-co --period 2026-10 --decimal-separator , Toggl_Track_detailed.csv

The entity must take its time entries from CSV exports (mapping ``source: csv`` with ``csv_export: {kind,
folder}``): the export is copied into that folder (the newest export there, so it supersedes the older rows it
covers) and the folder is read for the period into the ``raw_time_entries`` partition, exactly as the
``raw_time_entries`` asset of ``sync`` reads it, so a later ``sync`` keeps what was imported. An entity whose
source is Harvest or Redmine is refused with the reason: ``sync`` re-extracts it from there and would drop the
import. Rows that cannot be read are written to ``raw_time_entries_quarantine`` (file, row, column, problem) and
listed here; exit code 1 when anything was quarantined.
"""

from __future__ import annotations

import argparse

from sync_pipeline.cli import UserError


def cmd_import_csv(args: argparse.Namespace) -> int:
    from sync_pipeline.connectors.csv_exports import CsvFormatError, CsvOptions
    from sync_pipeline.connectors.csv_folder import file_export, import_csv_folder
    from sync_pipeline.connectors.project import OFFLINE, open_source
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.contracts.warehouse import RawTimeEntry
    from sync_pipeline.defs import settings
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.services.pseudonymize import protect_frame, seal_frame
    from sync_pipeline.store.operational import OperationalStore
    from sync_pipeline.store.warehouse import Warehouse

    period = Period.parse(args.period)
    entity = load_mapping(args.mapping or settings.mapping_path()).entity(args.entity)
    export = entity.csv_export
    if not open_source(entity, OFFLINE).supports("file_import") or export is None:
        raise UserError(
            f"{args.entity} takes its time entries from {entity.source} (the mapping's source): the next sync "
            f"re-extracts them from there and would drop this import. To bill {args.entity} from exports, set "
            f"source: csv and csv_export: {{kind: {args.kind or 'harvest'}, folder: <folder>}} for it in the mapping "
            f"and import again")
    if args.kind and args.kind != export.kind:
        raise UserError(f"{args.entity} reads {export.kind} exports (mapping csv_export.kind), not {args.kind}: "
                        f"import a {export.kind} export, or change csv_export.kind")
    delimiter = {"tab": "\t"}.get(args.delimiter, args.delimiter)
    options = CsvOptions(decimal_separator=args.decimal_separator or export.decimal_separator,
                         encoding=args.encoding or export.encoding, delimiter=delimiter or export.delimiter,
                         date_format=args.date_format or export.date_format)
    try:
        filed = file_export(args.file, export.folder, export.kind, options)
        result = import_csv_folder(export.folder, export.kind, period, options)
    except CsvFormatError as e:
        raise UserError(str(e)) from None
    except (ValueError, OSError) as e:
        raise UserError(f"{args.file}: {e}") from None
    wh = Warehouse(args.warehouse or settings.warehouse_root())
    # as the sync writes them (services.pseudonymize): names → pseudonyms, notes and quarantined raw rows encrypted
    store = OperationalStore(settings.operational_store_url())
    entries = protect_frame(store, result.entries, "raw_time_entries.notes")
    path = wh.write("raw_time_entries", args.entity, period.key, entries, RawTimeEntry)
    wh.write("raw_time_entries_quarantine", args.entity, period.key,
             seal_frame(store, result.quarantine, "raw_time_entries_quarantine"))
    wh.write("raw_time_entries_superseded", args.entity, period.key,
             protect_frame(store, result.superseded, "raw_time_entries.notes"))
    print(f"{args.file} filed as {filed}; the folder holds {len(result.files)} export(s): {', '.join(result.files)}")
    print(f"{len(result.entries)} entries of {period.key} written to {path}")
    if result.outside_period:
        print(f"{result.outside_period} entries outside {period.key} left out (import them with their own period)")
    if len(result.superseded):
        print(f"{len(result.superseded)} rows of older exports superseded by newer ones (raw_time_entries_superseded)")
    if len(result.quarantine):
        rows = result.quarantine[["file", "row"]].drop_duplicates()
        print(f"{len(rows)} rows quarantined ({len(result.quarantine)} problems) in raw_time_entries_quarantine:")
        for r in result.quarantine.itertuples():
            where = f"{r.file} row {r.row}" + (f", column {r.column!r}" if r.column else "")
            print(f"  {where}: {r.problem}")
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import time entries from a CSV export", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="import_command", required=True)
    csv = s.add_parser("csv", help="a Harvest detailed time report or a Toggl detailed report")
    csv.add_argument("file")
    csv.add_argument("--kind", choices=["harvest", "toggl"], help="checked against the mapping's csv_export.kind")
    csv.add_argument("--entity", required=True)
    csv.add_argument("--period", required=True, help="YYYY-MM")
    csv.add_argument("--decimal-separator", choices=[".", ","],
                     help="the export's decimal separator (default: the mapping's, else '.'); ambiguous values are "
                          "quarantined")
    csv.add_argument("--encoding", help="default: detected (UTF-8 with or without BOM, UTF-16 with BOM, else cp1252)")
    csv.add_argument("--delimiter", choices=[",", ";", "tab"], help="default: detected (comma, semicolon or tab)")
    csv.add_argument("--date-format", choices=["DD/MM/YYYY", "MM/DD/YYYY"],
                     help="Toggl's Start date when it is not YYYY-MM-DD or DD.MM.YYYY")
    csv.add_argument("--mapping", help="mapping file (default: SYNC_PIPELINE_MAPPING or docs/mapping.example.yaml)")
    csv.add_argument("--warehouse", help="warehouse root (default: SYNC_PIPELINE_WAREHOUSE or data/warehouse)")
    csv.set_defaults(func=cmd_import_csv)
