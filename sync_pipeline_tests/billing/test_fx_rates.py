"""FX providers and stored rates: offline ECB history, a live provider over real HTTP, byte-for-byte reruns."""

import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import currency_converter
import pandas as pd
import pytest

from sync_pipeline.connectors.fx import EcbBundledProvider, EcbHttpProvider
from sync_pipeline.contracts.warehouse import FxRateRow
from sync_pipeline.domain.fx import FxRate
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import fx
from sync_pipeline.store.warehouse import Warehouse


def test_bundled_ecb_history_gives_published_rates_and_skips_closed_days():
    p = EcbBundledProvider(clock=lambda: "2026-11-02T09:00:00+00:00")
    rates = p.published_rates(["GBP", "JPY", "EUR"], date(2026, 10, 23), date(2026, 10, 26))
    got = {(r.quote, r.rate_date.isoformat()): r.rate for r in rates}
    # the ECB publishes nothing on Saturday 24 and Sunday 25 October
    assert got == {("GBP", "2026-10-23"): Decimal("0.83728"), ("GBP", "2026-10-26"): Decimal("0.8382"),
                   ("JPY", "2026-10-23"): Decimal("175.51"), ("JPY", "2026-10-26"): Decimal("176.15")}
    assert all(r.base == "EUR" and r.source.startswith("ecb-reference") and r.retrieved_at for r in rates)


class _Files(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def ecb_server():
    _Files.body = (Path(currency_converter.__file__).parent / "eurofxref-hist.zip").read_bytes()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/eurofxref-hist.zip"
    finally:
        srv.shutdown()
        srv.server_close()


def test_live_provider_reads_the_ecb_file_over_http(ecb_server):
    p = EcbHttpProvider(ecb_server, timeout=5, max_attempts=1)
    rates = p.published_rates(["USD"], date(2026, 10, 26), date(2026, 10, 26))
    assert [(r.quote, r.rate) for r in rates] == [("USD", Decimal("1.1188"))]
    assert p.source == f"ecb-reference ({ecb_server})"


class _Shifted:
    """A provider whose answers changed since the period was first priced (a live feed revising)."""

    pivot = "EUR"
    source = "revised-feed"

    def published_rates(self, currencies, start, end):
        return [FxRate("EUR", c, Decimal("9.99"), date(2026, 10, 30), self.source, "2027-01-01T00:00:00+00:00")
                for c in sorted(currencies)]


def test_rerunning_a_past_period_keeps_the_stored_rates_byte_for_byte(tmp_path):
    wh = Warehouse(tmp_path)
    period = Period(2026, 10)
    first = fx.period_rates(EcbBundledProvider(clock=lambda: "2026-11-02T09:00:00+00:00"), {"GBP", "EUR", "JPY"},
                            period)
    # 10 lookback days + 31 days of October, ECB publication days only: 2026-09-21 .. 2026-10-30
    assert first["rate_date"].min() == "2026-09-21" and first["rate_date"].max() == "2026-10-30"
    path = wh.write("fx_rates", "acme-uk", "2026-10", first, FxRateRow)
    before = path.read_bytes()

    again = fx.period_rates(_Shifted(), {"GBP", "EUR", "JPY"}, period, existing=wh.read("fx_rates", "acme-uk", "2026-10"))
    wh.write("fx_rates", "acme-uk", "2026-10", again, FxRateRow)
    assert path.read_bytes() == before

    # a currency not stored yet is fetched; what was stored stays as it was
    more = fx.period_rates(_Shifted(), {"GBP", "USD"}, period, existing=wh.read("fx_rates", "acme-uk", "2026-10"))
    assert set(more["quote_currency"]) == {"GBP", "JPY", "USD"}
    usd = more[more["quote_currency"] == "USD"]
    assert list(usd["rate"]) == [Decimal("9.99")] and list(usd["source"]) == ["revised-feed"]
    gbp_before = first[first["quote_currency"] == "GBP"].reset_index(drop=True)
    gbp_after = more[more["quote_currency"] == "GBP"].reset_index(drop=True)
    assert gbp_after["client_id"].isna().all() and gbp_before["client_id"].isna().all()
    pd.testing.assert_frame_equal(gbp_after.drop(columns="client_id"), gbp_before.drop(columns="client_id"))


def test_contract_rates_overlay_reference_rates_for_their_client_only():
    ref = fx.period_rates(EcbBundledProvider(clock=lambda: "t"), {"GBP", "USD"}, Period(2026, 10))
    contract = fx.contract_rates("7", "USD", "GBP", Decimal("0.75"), date(2026, 1, 1), "2026-01-01T00:00:00+00:00")
    table = fx.merge_keep_existing(ref, contract)
    r7 = fx.rate_table(table, client_id="7").rate("USD", "GBP", date(2026, 10, 30))
    assert (r7.rate, r7.kind, r7.source) == (Decimal("0.75"), "contract", "contract:7")
    # GBP→USD for the contract client is the inverse, 1/0.75 = 1.3333333333
    assert fx.rate_table(table, client_id="7").rate("GBP", "USD", date(2026, 10, 30)).rate == Decimal("1.3333333333")
    other = fx.rate_table(table, client_id="8").rate("USD", "GBP", date(2026, 10, 30))
    assert other.kind == "reference" and other.rate_date == date(2026, 10, 30)


def test_rebilling_a_past_period_reproduces_the_drafts_byte_for_byte(tmp_path):
    """The whole chain, not only the rates: bill October, store rates and drafts; the feed revises its rates;
    bill October again from the stored rates → the same draft file, byte for byte (and a fresh pricing from the
    revised feed would have billed other amounts, so the test would notice if the stored rates were ignored)."""
    from sync_pipeline.contracts.warehouse import InvoiceDraftLine
    from sync_pipeline_tests.billing.helpers import bill, entity, entry

    period = Period(2026, 10)
    ent = entity(clients=[{"source_id": "5", "name": "Initech US", "currency": "GBP"},
                          {"source_id": "8", "name": "Nippon KK"}],
                 projects=[{"source_id": "61", "client": "5"}, {"source_id": "64", "client": "8"}])
    rows = [entry(501, client="5", currency="USD", project="61", hours="10", rate="150"),
            entry(502, client="5", currency="USD", project="61", hours="1.25", rate="150"),
            entry(801, client="8", currency="JPY", project="64", hours="0.1", rate="12345")]
    wh = Warehouse(tmp_path)
    currencies = {"GBP", "USD", "JPY"}
    first_rates = fx.period_rates(EcbBundledProvider(clock=lambda: "2026-11-02T09:00:00+00:00"), currencies, period)
    wh.write("fx_rates", "acme-uk", "2026-10", first_rates, FxRateRow)
    first = wh.write("invoice_drafts", "acme-uk", "2026-10", bill(rows, ent, rates=first_rates).drafts,
                     InvoiceDraftLine).read_bytes()

    stored = fx.period_rates(_Shifted(), currencies, period, existing=wh.read("fx_rates", "acme-uk", "2026-10"))
    again = wh.write("invoice_drafts", "acme-uk", "2026-10", bill(rows, ent, rates=stored).drafts,
                     InvoiceDraftLine).read_bytes()
    assert again == first

    revised = bill(rows, ent, rates=fx.period_rates(_Shifted(), currencies, period)).drafts
    gbp = lambda d: d[d["client_id"] == "5"]["line_amount_minor"].sum()  # noqa: E731
    assert gbp(revised) != gbp(bill(rows, ent, rates=stored).drafts)
