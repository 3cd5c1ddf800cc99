"""FX rates for a billing period: fetch what is missing, keep what is stored, convert only from stored rates.

API for other use cases (billing, consolidation):

- ``period_rates(provider, currencies, period, existing=None)`` → the ``fx_rates`` frame for a period:
  the rows already stored are kept untouched; only (pair, date) rows not stored yet are fetched.
- ``rates_frame(rates)`` / ``rates_from_frame(df)`` convert between ``FxRate`` values and the
  ``FxRateRow`` warehouse contract.
- ``rate_table(df)`` → a ``domain.fx.RateTable`` for lookups ("latest on or before the date").
- ``contract_rates(client_id, ...)`` → a client's fixed contract rate as ``FxRate`` rows to store
  beside the reference rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from sync_pipeline.connectors.fx import FxProvider
from sync_pipeline.contracts.warehouse import FxRateRow
from sync_pipeline.domain.fx import FxRate, RateTable
from sync_pipeline.domain.periods import Period

FX_COLUMNS = list(FxRateRow.to_schema().columns)
_KEY = ["base_currency", "quote_currency", "rate_date", "kind", "client_id"]
LOOKBACK_DAYS = 10  # rates published before the period start cover its first days (weekends, holidays)


def rates_frame(rates: Iterable[FxRate], client_id: str | None = None) -> pd.DataFrame:
    rows = [{
        "base_currency": r.base, "quote_currency": r.quote, "rate_date": r.rate_date.isoformat(),
        "rate": r.rate, "source": r.source, "retrieved_at": r.retrieved_at, "kind": r.kind, "client_id": client_id,
    } for r in rates]
    return pd.DataFrame(rows, columns=FX_COLUMNS)


def rates_from_frame(df: pd.DataFrame) -> list[tuple[str | None, FxRate]]:
    out: list[tuple[str | None, FxRate]] = []
    for r in df.itertuples(index=False):
        cid = r.client_id if isinstance(r.client_id, str) and r.client_id else None
        out.append((cid, FxRate(r.base_currency, r.quote_currency, Decimal(r.rate), date.fromisoformat(r.rate_date),
                                r.source, r.retrieved_at, r.kind)))
    return out


def rate_table(df: pd.DataFrame, client_id: str | None = None, pivot: str = "EUR") -> RateTable:
    """Reference rates, overlaid by the client's contract rates when ``client_id`` has any."""
    rows = rates_from_frame(df)
    reference = [r for cid, r in rows if cid is None]
    contract = [r for cid, r in rows if cid is not None and cid == client_id]
    return _Overlay(RateTable(contract, pivot=pivot, max_age_days=36500), RateTable(reference, pivot=pivot))


class _Overlay(RateTable):
    """Contract rates first (a contract rate never goes stale), then reference rates."""

    def __init__(self, contract: RateTable, reference: RateTable) -> None:  # noqa: D107
        self._contract, self._reference = contract, reference
        self.pivot = reference.pivot
        self.max_age_days = reference.max_age_days

    def rate(self, base: str, quote: str, on: date) -> FxRate:
        if base != quote:
            for a, b, inv in ((base, quote, False), (quote, base, True)):
                r = self._contract._direct(a, b, on)
                if r is not None:
                    return r.inverse() if inv else r
        return self._reference.rate(base, quote, on)


def contract_rates(client_id: str, base: str, quote: str, rate: Decimal, effective_from: date,
                   agreed_at: str) -> pd.DataFrame:
    """A client's agreed rate, stored like a reference rate with ``kind = contract``."""
    return rates_frame([FxRate(base, quote, rate, effective_from, f"contract:{client_id}", agreed_at, "contract")],
                       client_id=client_id)


def merge_keep_existing(existing: pd.DataFrame | None, fresh: pd.DataFrame) -> pd.DataFrame:
    """Stored rows win: a (pair, date, kind, client) already stored is never replaced."""
    if existing is None or existing.empty:
        merged = fresh
    else:
        existing = existing[FX_COLUMNS]
        known = set(map(tuple, existing[_KEY].astype(object).where(existing[_KEY].notna(), None).values.tolist()))
        keys = fresh[_KEY].astype(object).where(fresh[_KEY].notna(), None).values.tolist()
        new = fresh[[tuple(k) not in known for k in keys]]
        merged = pd.concat([existing, new], ignore_index=True) if len(new) else existing
    merged = merged.astype({"client_id": object})
    order = merged.assign(_cid=merged["client_id"].fillna("")).sort_values(
        ["kind", "_cid", "base_currency", "quote_currency", "rate_date"], kind="stable")
    return order.drop(columns="_cid").reset_index(drop=True)[FX_COLUMNS]


def period_rates(provider: FxProvider, currencies: Iterable[str], period: Period,
                 existing: pd.DataFrame | None = None, today: date | None = None,
                 lookback_days: int = LOOKBACK_DAYS) -> pd.DataFrame:
    """The rates a period needs (every publication day from ``start - lookback`` to the period end).

    Pairs whose dates are all stored already are not asked for again.
    """
    start = period.start - timedelta(days=lookback_days)
    end = min(period.end, today) if today else period.end
    wanted = sorted(set(currencies) - {provider.pivot})
    if existing is not None and len(existing):
        ref = existing[existing["kind"] == "reference"]
        latest = ref.groupby("quote_currency")["rate_date"].max()
        fresh_enough = (end - timedelta(days=4)).isoformat()  # a weekend or holiday may end the period
        wanted = [c for c in wanted if latest.get(c, "") < fresh_enough]
    fresh = rates_frame(provider.published_rates(wanted, start, end)) if wanted else pd.DataFrame(columns=FX_COLUMNS)
    return merge_keep_existing(existing, fresh)
