"""The billing-health KPI assets on the demo partition: synced by a sensor, paid in part, measured."""

from datetime import date
from decimal import Decimal

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services import kpis as kpi_service

E, P = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD
PK = partition_key(E, P)
SENSOR = {"dagster/sensor_name": "harvest_changefeed"}  # an automation posts: no manual step


def _meta(res, asset):
    [m] = res.asset_materializations_for_node(asset)
    return {k: v.value for k, v in m.metadata.items()}


def test_kpis_of_the_demo_partition(sandboxes, resources, instance, standing_approval):
    from sync_pipeline.connectors.xero import payment_payload

    defs = build_defs(resources)
    assert defs.resolve_job_def("sync_job").execute_in_process(instance=instance, partition_key=PK, tags=SENSOR).success
    gbp = next(d for d in sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)
               if d["Reference"] == "SP-acme-uk-2026-10-C1-R1")
    xero = resources["xero"].client(demo_data.XERO_TENANT_ID)
    xero.create_payments([payment_payload(account_code="090", date="2026-11-10", amount=Decimal("500.00"),
                                          invoice_id=gbp["InvoiceID"])], idempotency_key="kpi-part-pay")
    xero.close()
    assert defs.resolve_job_def("accounting_pullback_job").execute_in_process(instance=instance, partition_key=PK).success
    res = defs.resolve_job_def("billing_health_job").execute_in_process(instance=instance, partition_key=PK)
    assert res.success

    # billable 1001-1006 = 2.5 + 3.0 + 1.25 + 0.75 + 4.0 + 1.5 = 13.0 h, all billed by the sensor's run;
    # 1008 (2.0 h) is held for approval: 13.0 / 15.0 = 0.8667
    touchless = _meta(res, "kpi_touchless_billing")
    assert touchless["value"] == 0.8667 and touchless["billable_hours"] == 15.0 and touchless["touchless_hours"] == 13.0
    corrections = _meta(res, "kpi_billing_corrections")  # two invoices issued, nothing corrected
    assert (corrections["value"], corrections["invoices_issued"], corrections["credit_notes"]) == (0.0, 2, 0)
    close = _meta(res, "kpi_close_to_invoice")  # October closed at midnight into 1 Nov (London); posted today
    assert close["invoices"] == 2 and close["value"] > 30
    # quarantined 1009 and held 1008: two for time tracking, none for billing or accounting
    exceptions = _meta(res, "kpi_sync_exceptions")
    assert (exceptions["value"], exceptions["team time tracking"], exceptions["team billing"],
            exceptions["team accounting"]) == (2.0, 2, 0, 0)

    # DSO: GBP 981.00 paid 500.00 on 10 Nov, the rest open at the pull; EUR 699.90 all open
    wh = resources["warehouse"].get()
    docs = wh.read("accounting_invoices", E, P).set_index("reference")
    as_of = date.fromisoformat(str(docs["pulled_at"].max())[:10])
    d_gbp = date.fromisoformat(docs.loc["SP-acme-uk-2026-10-C1-R1", "date"])
    d_eur = date.fromisoformat(docs.loc["SP-acme-uk-2026-10-C2-R1", "date"])
    gbp_days = (Decimal(50000) * (date(2026, 11, 10) - d_gbp).days
                + Decimal(48100) * (as_of - d_gbp).days) / Decimal(98100)
    expected = ((gbp_days + (as_of - d_eur).days) / 2).quantize(Decimal("0.1"))
    dso = _meta(res, "kpi_days_sales_outstanding")
    assert Decimal(str(dso["value"])) == expected and dso["invoices"] == 2 and dso["fully_paid"] == 0

    # every KPI is kept for the billing-health page, as exact strings
    hist = kpi_service.history(wh, [E])
    assert sorted(hist["kpi"]) == sorted(["touchless_billing", "billing_corrections", "close_to_invoice",
                                          "days_sales_outstanding", "sync_exceptions"])
    assert hist.set_index("kpi").loc["touchless_billing", "value"] == "0.8667"
