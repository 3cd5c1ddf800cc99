"""Bank statement files: CSV exports and OFX, read into bank lines (and written, for the sandbox); camt.053 and
MT940 are read by ``statement_formats`` through ``read_statement`` alike.

OFX is read and written with ``ofxtools`` (maintained, pure Python, parses OFX 1.x SGML and 2.x XML
into typed models with Decimal amounts), rather than a hand-written parser of a format with two
syntaxes and many bank quirks. CSV is the shape most banks export: one line per transaction with a
date, a signed amount and the payer / remittance text; the column names are configurable.

A bank line: ``line_id`` (stable: the account and the bank's own transaction id, FITID in OFX),
``account``, ``date`` (ISO), ``amount_minor`` (signed integer minor units), ``currency``, ``payer_name``,
``description``, ``bank_reference``, ``source`` (the file). Rows that cannot be read are returned
separately with the reason, never dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd

from sync_pipeline.domain.money import MoneyError, from_minor, to_minor

LINE_COLUMNS = ["line_id", "account", "date", "amount_minor", "currency", "payer_name", "description",
                "bank_reference", "source"]
REJECT_COLUMNS = ["source", "row", "reason", "raw"]
CAMT_SUFFIXES = (".xml", ".camt", ".053")
MT940_SUFFIXES = (".sta", ".mt940", ".940")


class StatementError(ValueError):
    """A statement file cannot be read at all (format, encoding, missing columns)."""


@dataclass(frozen=True)
class CsvLayout:
    """Column names of a bank's CSV export."""

    date: str = "date"
    amount: str = "amount"
    currency: str = "currency"
    payer: str = "payer"
    description: str = "description"
    bank_reference: str = "bank_reference"
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%d/%m/%Y")


@dataclass
class Statement:
    lines: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))


def _line_id(account: str, bank_reference: str | None, *fallback: object) -> str:
    if bank_reference:
        return f"{account}:{bank_reference}"
    digest = hashlib.sha256("\x1f".join(str(x) for x in (account, *fallback)).encode()).hexdigest()[:24]
    return f"{account}:h{digest}"


line_id = _line_id  # the formats' readers (statement_formats) build their ids alike


def _date(value: str, formats: Iterable[str]) -> date:
    for fmt in formats:
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date {value!r} is in none of the formats {', '.join(formats)}")


def read_csv(path: str | Path, *, account: str, default_currency: str, layout: CsvLayout | None = None) -> Statement:
    layout = layout or CsvLayout()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise StatementError(f"{p}: not UTF-8 ({e}); export the statement as UTF-8 CSV") from None
    reader = csv.DictReader(text.splitlines())
    header = set(reader.fieldnames or [])
    missing = [c for c in (layout.date, layout.amount) if c not in header]
    if missing:
        raise StatementError(f"{p}: missing column(s) {', '.join(missing)}; found {', '.join(sorted(header))}. "
                             "Set the CSV layout for this bank (CsvLayout) to its column names")
    lines, rejects = [], []
    seen: dict[tuple, int] = {}
    for n, row in enumerate(reader, start=2):  # row 1 is the header
        try:
            d = _date(row[layout.date], layout.date_formats)
            ccy = (row.get(layout.currency) or default_currency).strip().upper()
            amount = Decimal(row[layout.amount].replace(",", "").strip())
            minor = to_minor(amount, ccy)
            if from_minor(minor, ccy) != amount:
                raise ValueError(f"amount {amount} has more decimals than {ccy} allows")
        except (ValueError, InvalidOperation, MoneyError, KeyError) as e:
            rejects.append({"source": p.name, "row": n, "reason": str(e) or type(e).__name__, "raw": dict(row)})
            continue
        ref = (row.get(layout.bank_reference) or "").strip() or None
        key = (d, minor, row.get(layout.payer), row.get(layout.description))
        seen[key] = seen.get(key, 0) + 1
        lines.append({"line_id": _line_id(account, ref, *key, seen[key]), "account": account, "date": d.isoformat(),
                      "amount_minor": minor, "currency": ccy, "payer_name": (row.get(layout.payer) or "").strip(),
                      "description": (row.get(layout.description) or "").strip(), "bank_reference": ref,
                      "source": p.name})
    return Statement(pd.DataFrame(lines, columns=LINE_COLUMNS), pd.DataFrame(rejects, columns=REJECT_COLUMNS))


def read_ofx(path: str | Path, *, account: str | None = None) -> Statement:
    """Every statement in an OFX file; ``account`` overrides the file's account id as the line's account."""
    from ofxtools.Parser import OFXTree

    p = Path(path)
    tree = OFXTree()
    try:
        tree.parse(str(p))
        ofx = tree.convert()
    except Exception as e:  # ofxtools raises several error types for malformed files
        raise StatementError(f"{p}: not a readable OFX file ({type(e).__name__}: {e})") from None
    lines, rejects = [], []
    for st in ofx.statements:
        acct = account or str(st.account.acctid)
        ccy = str(st.curdef)
        for n, tx in enumerate(st.transactions, start=1):
            try:
                minor = to_minor(Decimal(tx.trnamt), ccy)
                posted = tx.dtposted.astimezone(UTC).date()
            except (MoneyError, InvalidOperation, AttributeError) as e:
                rejects.append({"source": p.name, "row": n, "reason": str(e), "raw": {"fitid": tx.fitid}})
                continue
            ref = str(tx.fitid) if tx.fitid else None
            lines.append({"line_id": _line_id(acct, ref, posted, minor, tx.name, tx.memo, n), "account": acct,
                          "date": posted.isoformat(), "amount_minor": minor, "currency": ccy,
                          "payer_name": str(tx.name or ""), "description": str(tx.memo or ""),
                          "bank_reference": ref, "source": p.name})
    return Statement(pd.DataFrame(lines, columns=LINE_COLUMNS), pd.DataFrame(rejects, columns=REJECT_COLUMNS))


def read_statement(path: str | Path, *, account: str, default_currency: str,
                   layout: CsvLayout | None = None) -> Statement:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_csv(path, account=account, default_currency=default_currency, layout=layout)
    if suffix in (".ofx", ".qfx"):
        return read_ofx(path, account=account)
    if suffix in CAMT_SUFFIXES:
        from sync_pipeline.connectors.statement_formats import read_camt053

        return read_camt053(path, account=account)
    if suffix in MT940_SUFFIXES:
        from sync_pipeline.connectors.statement_formats import read_mt940

        return read_mt940(path, account=account)
    raise StatementError(f"{path}: unknown statement format {suffix!r}; use .csv, .ofx, .xml (camt.053) or "
                         ".sta / .mt940 (MT940)")


def read_statements(paths: Iterable[str | Path], *, account: str, default_currency: str) -> Statement:
    """Every file's lines; a file that cannot be read at all is one reject (row 0: the whole file) with the reason,
    so the other files of the period are still read."""
    parts = []
    for p in sorted(paths):
        try:
            parts.append(read_statement(p, account=account, default_currency=default_currency))
        except StatementError as e:
            parts.append(Statement(pd.DataFrame(columns=LINE_COLUMNS), pd.DataFrame(
                [{"source": Path(p).name, "row": 0, "reason": f"the whole file: {e}", "raw": {}}],
                columns=REJECT_COLUMNS)))
    if not parts:
        return Statement(pd.DataFrame(columns=LINE_COLUMNS))
    lines = pd.concat([s.lines for s in parts], ignore_index=True).drop_duplicates("line_id", keep="first")
    return Statement(lines.reset_index(drop=True), pd.concat([s.rejects for s in parts], ignore_index=True))


# -- writers (the sandbox's bank) --------------------------------------------------------------------------
def write_csv(rows: Iterable[dict[str, Any]], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cols = ["date", "amount", "currency", "payer", "description", "bank_reference"]
    with p.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    return p


def write_ofx(rows: Iterable[dict[str, Any]], path: str | Path, *, account: str, currency: str,
              bank_id: str = "200000") -> Path:
    """An OFX 2.2 bank statement (``rows`` as from ``CashDataset.statement_rows``)."""
    from ofxtools.header import make_header
    from ofxtools.models import (
        BANKACCTFROM,
        BANKMSGSRSV1,
        BANKTRANLIST,
        LEDGERBAL,
        OFX,
        SIGNONMSGSRSV1,
        SONRS,
        STATUS,
        STMTRS,
        STMTTRN,
        STMTTRNRS,
    )

    rows = list(rows)
    txs, total = [], Decimal(0)
    for r in rows:
        amt = Decimal(r["amount"])
        total += amt
        d = date.fromisoformat(r["date"])
        txs.append(STMTTRN(trntype="CREDIT" if amt > 0 else "DEBIT", dtposted=datetime(d.year, d.month, d.day,
                                                                                        tzinfo=UTC),
                           trnamt=amt, fitid=r["bank_reference"], name=(r.get("payer") or "")[:32] or None,
                           memo=(r.get("description") or "")[:255] or None))
    dates = [date.fromisoformat(r["date"]) for r in rows] or [date.today()]
    start, end = (datetime(d.year, d.month, d.day, tzinfo=UTC) for d in (min(dates), max(dates)))
    ok = STATUS(code=0, severity="INFO")
    stmt = STMTRS(curdef=currency, bankacctfrom=BANKACCTFROM(bankid=bank_id, acctid=account, accttype="CHECKING"),
                  banktranlist=BANKTRANLIST(*txs, dtstart=start, dtend=end),
                  ledgerbal=LEDGERBAL(balamt=total, dtasof=end))
    ofx = OFX(signonmsgsrsv1=SIGNONMSGSRSV1(sonrs=SONRS(status=ok, dtserver=end, language="ENG")),
              bankmsgsrsv1=BANKMSGSRSV1(STMTTRNRS(trnuid="1", status=ok, stmtrs=stmt)))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(str(make_header(version=220)) + ET.tostring(ofx.to_etree()).decode(), encoding="utf-8")
    return p
