"""End to end: every asset of one partition against the sandbox of each accounting system (the ``accounting``
fixture: Xero, QuickBooks Online), totals checked by hand, what the system holds read back through the target."""

from decimal import Decimal

from dagster import AssetKey

from sync_pipeline.contracts.payloads.accounting import InvoiceUpdateV1
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data


def _run(resources, instance, **kw):
    job = build_defs(resources).resolve_job_def("sync_job")
    return job.execute_in_process(instance=instance,
                                  partition_key=partition_key(demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD), **kw)


def test_full_sync_posts_hand_computed_invoices_once(accounting, resources, instance, standing_approval):
    result = _run(resources, instance)
    assert result.success
    for ev in result.get_asset_check_evaluations():
        assert ev.passed, ev.check_name

    invoices = accounting.invoices()
    assert sorted(invoices) == ["SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C2-R1"]

    # Acme Corp, GBP. Approved billable entries of October 2026 (1008 is unapproved → held,
    # 1009 has negative hours → quarantined, 1010 is September, 1007 is non-billable):
    #   Acme Website / Development @100: 3.0 h  = 300.00   (lines ordered by project, task, rate)
    #   Acme Website / Development @120: 2.5 h  = 300.00
    #   Acme Website / Design      @120: 1.25 h = 150.00
    #   Acme Support / Meetings    @90 : 0.75 h =  67.50
    #   subtotal 817.50, VAT 20 % per line: 60.00 + 60.00 + 30.00 + 13.50 = 163.50, total 981.00
    gbp = invoices["SP-acme-uk-2026-10-C1-R1"]
    assert (gbp.currency, gbp.status) == ("GBP", "AUTHORISED")
    assert [(li.quantity, li.unit_amount, li.line_amount) for li in gbp.lines] == [
        (Decimal("3.0"), Decimal("100"), Decimal("300.00")),
        (Decimal("2.5"), Decimal("120"), Decimal("300.00")),
        (Decimal("1.25"), Decimal("120"), Decimal("150.00")),
        (Decimal("0.75"), Decimal("90"), Decimal("67.50")),
    ]
    assert (gbp.subtotal, gbp.total_tax, gbp.total) == (Decimal("817.50"), Decimal("163.50"), Decimal("981.00"))

    # Globex GmbH, EUR:
    #   Globex Data Platform / Development @110  : 4.0 h = 440.00
    #   Globex Data Platform / Design      @95.50: 1.5 h = 143.25
    #   subtotal 583.25, VAT 88.00 + 28.65 = 116.65, total 699.90
    eur = invoices["SP-acme-uk-2026-10-C2-R1"]
    assert eur.currency == "EUR"
    assert (eur.subtotal, eur.total_tax, eur.total) == (Decimal("583.25"), Decimal("116.65"), Decimal("699.90"))

    # the contacts carry the source client's identity
    assert accounting.contacts(["HARVEST-1", "HARVEST-2"]) == {"HARVEST-1": "Acme Corp", "HARVEST-2": "Globex GmbH"}


def test_second_run_posts_nothing_twice(accounting, resources, instance, standing_approval):
    assert _run(resources, instance).success
    first = accounting.invoices()
    assert _run(resources, instance).success
    again = accounting.invoices()
    assert len(again) == 2 and {d.id for d in again.values()} == {d.id for d in first.values()}
    posted = resources["warehouse"].get().read("posted_invoices", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    assert set(posted["outcome"]) == {"already_posted"}


def test_crash_after_post_before_ledger_is_recovered_by_lookup(accounting, resources, instance, tmp_path,
                                                               standing_approval):
    """The invoice reached the accounting system but the ledger never heard: the next run finds it by reference."""
    assert _run(resources, instance).success
    # lose the operational store's ledger, as if the ledger write never happened (the target's tokens move along)
    fresh = type(resources["opstore"])(url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    _keep_tokens(resources, fresh.url)
    resources["opstore"] = fresh
    assert _run(resources, instance).success
    assert len(accounting.invoices()) == 2
    posted = resources["warehouse"].get().read("posted_invoices", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    assert set(posted["outcome"]) == {"found_in_target"}


def _keep_tokens(resources, store_url: str) -> None:
    """QuickBooks' rotated refresh token lives in the operational store: copy it over to the fresh one."""
    qbo = resources["xero"].qbo
    if qbo is None:
        return
    from sync_pipeline.store.oauth_tokens import OAuthTokenStore
    from sync_pipeline.store.operational import OperationalStore

    old, new = qbo.tokens(), OAuthTokenStore(OperationalStore(store_url).engine)
    for realm in (demo_data.QBO_REALM_UK, demo_data.QBO_REALM_US):
        if (t := old.load(realm)) is not None:
            new.save(realm, t)


def test_reconciliation_flags_a_tampered_invoice(accounting, resources, instance, standing_approval):
    assert _run(resources, instance).success
    rec = resources["warehouse"].get().read("sync_reconciliation", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    assert set(rec["status"]) == {"match"}
    # someone voids the EUR invoice in the accounting system
    inv = accounting.invoices()["SP-acme-uk-2026-10-C2-R1"]
    target = accounting.target()
    try:
        [voided] = target.update("invoice", [InvoiceUpdateV1(id=inv.id, status="VOIDED", currency="EUR")],
                                 idempotency_key="tamper-1")
    finally:
        target.close()
    assert voided.ok, voided.errors
    res = _run(resources, instance, asset_selection=[AssetKey("sync_reconciliation")], raise_on_error=False)
    rec = resources["warehouse"].get().read("sync_reconciliation", demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)
    missing = rec[(rec["level"] == "document") & (rec["status"] == "missing")]
    assert list(missing["key"]) == ["SP-acme-uk-2026-10-C2-R1"]
    checks = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
    assert checks.get("sync_totals_match") is False
    # the runs and the test's own calls spent one quota per company without being throttled (a 429 from
    # QuickBooks costs 60 s: every resource of the process now shares the company's limiter)
    assert _server_pauses(resources) == 0


def _server_pauses(resources) -> int:
    """The 429s / Retry-Afters the accounting sandbox answered the demo entity's company in this process."""
    target = resources["xero"].target(resources["mapping"].load().entity(demo_data.DEMO_ENTITY))
    try:
        return target.client.http.limiter.stats.server_pauses
    finally:
        target.close()
