"""Billing-health KPIs, one asset each, per entity × closed billing period (formulas: docs/kpis.md).

Each asset is thin: ``services.kpis`` measures the partition from what the sync stored, keeps the value in the
warehouse (``billing_kpis_<name>``, read by the workbench's billing-health page) and the numbers go into the
materialization's metadata, which Dagster plots across partitions on the asset's Plots tab.
"""

from datetime import date

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from sync_pipeline.defs.partitions import entity_closed_period_partitions, entity_period
from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, WarehouseResource
from sync_pipeline.domain.kpis import Kpi
from sync_pipeline.domain.periods import today_in
from sync_pipeline.services import kpis as kpi_service


def _partition(context: AssetExecutionContext, warehouse: WarehouseResource,
               opstore: OperationalStoreResource) -> kpi_service.Partition:
    ep = entity_period(context)
    return kpi_service.Partition(warehouse.get(), opstore.get(), ep.entity, ep.period)


def _result(p: kpi_service.Partition, k: Kpi, what: str) -> MaterializeResult:
    """Store the KPI and describe it: the value (plotted), its parts (numbers plotted too) and in words."""
    kpi_service.store_kpi(p.wh, p.entity, p.period, k)
    meta: dict = {"what": MetadataValue.md(what), "unit": k.unit,
                  "value": MetadataValue.float(float(k.value)) if k.value is not None else "nothing to measure yet"}
    for name, v in k.parts.items():
        meta[name] = MetadataValue.float(float(v)) if not isinstance(v, (int, str)) else v
    return MaterializeResult(metadata=meta)


@asset(partitions_def=entity_closed_period_partitions, group_name="kpis", kinds={"parquet"},
       deps=[AssetKey("clean_time_entries"), AssetKey("posted_lines")],
       description="Share of the period's billable hours invoiced without a manual step (no hold released by a "
                   "person, no correction, not posted by a person). 1.0 = every hour billed untouched.")
def kpi_touchless_billing(context: AssetExecutionContext, warehouse: WarehouseResource,
                          opstore: OperationalStoreResource) -> MaterializeResult:
    p = _partition(context, warehouse, opstore)
    return _result(p, kpi_service.touchless_billing(p),
                   "hours billed without a manual step ÷ billable hours (billed or still held)")


@asset(partitions_def=entity_closed_period_partitions, group_name="kpis", kinds={"parquet"},
       deps=[AssetKey("posted_invoices")],
       description="Billing corrections: credit notes and rebills per invoice issued in the period. 0 = no "
                   "invoice needed correcting.")
def kpi_billing_corrections(context: AssetExecutionContext, warehouse: WarehouseResource,
                            opstore: OperationalStoreResource) -> MaterializeResult:
    p = _partition(context, warehouse, opstore)
    return _result(p, kpi_service.billing_corrections(p), "(credit notes + rebills) ÷ invoices issued")


@asset(partitions_def=entity_closed_period_partitions, group_name="kpis", kinds={"parquet"},
       deps=[AssetKey("posted_invoices")],
       description="Days from the period's close (midnight after its last day, entity time zone) to its invoices "
                   "being posted in the accounting system: the median, with the fastest and slowest.")
def kpi_close_to_invoice(context: AssetExecutionContext, mapping: MappingResource, warehouse: WarehouseResource,
                         opstore: OperationalStoreResource) -> MaterializeResult:
    p = _partition(context, warehouse, opstore)
    tz = mapping.load().entity(p.entity).timezone
    return _result(p, kpi_service.close_to_invoice(p, tz), "median of (posted at − period close), in days")


@asset(partitions_def=entity_closed_period_partitions, group_name="kpis", kinds={"parquet"},
       deps=[AssetKey("accounting_invoices"), AssetKey("raw_payments")],
       description="Days sales outstanding of the period's invoices, from the payments pulled back from the "
                   "accounting system: how long each invoice's money stayed unpaid, weighted by amount.")
def kpi_days_sales_outstanding(context: AssetExecutionContext, mapping: MappingResource,
                               warehouse: WarehouseResource, opstore: OperationalStoreResource) -> MaterializeResult:
    p = _partition(context, warehouse, opstore)
    docs = p.frame("accounting_invoices")
    pulled = sorted(str(x)[:10] for x in docs["pulled_at"].dropna()) if len(docs) and "pulled_at" in docs else []
    as_of = date.fromisoformat(pulled[-1]) if pulled else today_in(mapping.load().entity(p.entity).timezone)
    return _result(p, kpi_service.days_sales_outstanding(p, as_of),
                   f"mean over invoices of amount-weighted days unpaid (open amounts counted to {as_of})")


@asset(partitions_def=entity_closed_period_partitions, group_name="kpis", kinds={"parquet"},
       deps=[AssetKey("clean_time_entries"), AssetKey("clean_expenses"), AssetKey("posted_invoices"),
             AssetKey("sync_reconciliation")],
       description="Open sync exceptions of the partition, per team that fixes them: time tracking (quarantined "
                   "or held entries and expenses), billing (posting failures, held documents), accounting "
                   "(reconciliation differences, unreadable documents).")
def kpi_sync_exceptions(context: AssetExecutionContext, warehouse: WarehouseResource,
                        opstore: OperationalStoreResource) -> MaterializeResult:
    p = _partition(context, warehouse, opstore)
    return _result(p, kpi_service.sync_exceptions(p), "count of open exceptions, by the team that acts on them")
