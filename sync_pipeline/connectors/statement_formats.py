"""Bank statements in the banks' own formats: ISO 20022 camt.053 (XML) and SWIFT MT940, read into bank lines.

Both formats are parsed by maintained libraries rather than by hand: ``pycamt`` (MIT; lxml with entity
resolution and network access off, camt.053 versions .02 to .08, one transaction per ``TxDtls`` of a batched
entry) and ``mt-940`` (BSD-3, every ``:61:``/``:86:`` field, German ``?``-subfields of ``:86:``). This module
turns their output into the project's bank lines (``bank_statements.LINE_COLUMNS``) and reads strictly: an entry
or transaction that does not read (no amount, an unknown currency, more decimals than the currency has, a
pending or reversed entry, a ``:61:`` line the format does not allow) is returned in ``rejects`` with the reason,
never dropped, never guessed. A file that cannot be read at all raises ``StatementError`` saying why.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd

from sync_pipeline.connectors.bank_statements import (
    LINE_COLUMNS,
    REJECT_COLUMNS,
    Statement,
    StatementError,
    line_id,
)
from sync_pipeline.domain.money import MINOR_UNITS, MoneyError, from_minor, to_minor

_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,5})?")


def _minor(amount: Any, ccy: Any) -> tuple[int, str]:
    """Signed-free amount text in minor units of ``ccy``: strict (a known currency, no extra decimals)."""
    c = str(ccy or "").strip().upper()
    if not c:
        raise ValueError("no currency")
    if c not in MINOR_UNITS:
        raise ValueError(f"unknown currency {c!r} (ISO 4217 code expected)")
    if amount is None or str(amount).strip() == "":
        raise ValueError("no amount")
    text = str(amount).strip()
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"amount {text[:40]!r} is not a positive decimal such as 120.50 (the sign is the "
                         "credit/debit mark)")
    value = Decimal(text)
    minor = to_minor(value, c)
    if from_minor(minor, c) != value:
        raise ValueError(f"amount {value} has more decimals than {c} allows")
    return minor, c


def _booking_date(text: Any) -> date:
    v = str(text or "").strip()
    if not v:
        raise ValueError("no booking date")
    try:
        return datetime.fromisoformat(v).date() if "T" in v else date.fromisoformat(v)
    except ValueError:
        raise ValueError(f"booking date {v[:40]!r} is not an ISO date") from None


def _frame(lines: list[dict], rejects: list[dict]) -> Statement:
    return Statement(pd.DataFrame(lines, columns=LINE_COLUMNS), pd.DataFrame(rejects, columns=REJECT_COLUMNS))


# -- camt.053 ------------------------------------------------------------------------------------------------
# where a transaction of a batched entry gives its amount in the account currency: TxDtls/Amt (camt.053.001.04
# on), else AmtDtls/TxAmt (.02 and .03 have no TxDtls/Amt), else AmtDtls/CntrValAmt; AmtDtls/InstdAmt is the
# amount as the payer instructed it, before conversion and charges, and is never read as the booked amount
_TX_ACCOUNT_AMOUNTS = ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/CntrValAmt/Amt")


def _camt_parser(xml: bytes):
    """pycamt's parser, reading each transaction at the amount booked on the account.

    pycamt takes a transaction's first ``Amt`` anywhere under ``TxDtls``: in camt.053.001.02 that is
    ``AmtDtls/InstdAmt/Amt``, the instructed amount, possibly in another currency, and it keeps the entry's
    currency beside it (USD 100.00 instructed, EUR 92.50 booked, read as EUR 100.00). Here an entry of one
    transaction is read at the entry's own ``Amt`` and mark (the booked amount, in the account currency); each
    transaction of a batched entry at its amount in that currency (:data:`_TX_ACCOUNT_AMOUNTS`), or, when it
    gives none, with ``AmountProblem`` saying so (the line is rejected, never guessed)."""
    from pycamt.parser import Camt053Parser

    class BookedAmounts(Camt053Parser):
        def _extract_transaction(self, entry, statement):
            txs = super()._extract_transaction(entry, statement)
            # pycamt marks a transaction with the first CdtDbtInd anywhere under TxDtls: from .04 on, without
            # the optional TxDtls/CdtDbtInd, that is a charge record's (Chrgs/Rcrd/CdtDbtInd DBIT on a credit).
            # A transaction's mark is its own TxDtls/CdtDbtInd in a batch, else the entry's.
            details = [t for d in entry.findall(".//NtryDtls", self.namespaces)
                       for t in d.findall(".//TxDtls", self.namespaces)]  # pycamt's order: one tx per TxDtls
            entry_mark = entry.find("CdtDbtInd", self.namespaces)
            if len(details) == len(txs) and entry_mark is not None:
                for tx, detail in zip(txs, details, strict=True):
                    own = detail.find("CdtDbtInd", self.namespaces) if len(details) > 1 else None
                    tx["CreditDebitIndicator"] = (own if own is not None else entry_mark).text
            return txs

        def _extract_transaction_details(self, tx_detail):
            data = super()._extract_transaction_details(tx_detail)
            data.pop("Amount", None)  # the entry's booked amount stands unless the entry is a batch
            entry = tx_detail.getparent().getparent()  # TxDtls ⊂ NtryDtls ⊂ Ntry
            if len(entry.findall("NtryDtls/TxDtls", self.namespaces)) < 2:
                return data
            booked = entry.find("Amt", self.namespaces)
            ccy = booked.get("Ccy") if booked is not None else None
            found = [(a, "given") for path in _TX_ACCOUNT_AMOUNTS if (a := tx_detail.find(path, self.namespaces))
                     is not None]
            mine = next((a for a, _ in found if a.get("Ccy") == ccy), None)
            if mine is not None:
                data["Amount"] = mine.text
                return data
            if (instructed := tx_detail.find("AmtDtls/InstdAmt/Amt", self.namespaces)) is not None:
                found.append((instructed, "instructed"))
            said = ", ".join(f"{a.get('Ccy')} {(a.text or '').strip()} {how}" for a, how in found)
            data["AmountProblem"] = (f"a transaction of a batched entry booked in {ccy} gives no amount in {ccy} "
                                     f"({'only ' + said if said else 'no amount at all'}): its share of the entry "
                                     "is unknown, book it by hand")
            return data

    return BookedAmounts(xml)


def _camt_line(tx: dict[str, Any], *, account: str, source: str) -> tuple[dict[str, Any], str | None]:
    """One pycamt transaction as a bank line (without its id), and its bank reference."""
    status = str(tx.get("Status") or "BOOK").upper()
    if status not in ("BOOK", "BOOKED"):
        raise ValueError(f"entry status {status} (not booked yet): it is read once the bank books it")
    if str(tx.get("ReversalIndicator") or "").lower() == "true":
        raise ValueError("a reversal entry: its sign depends on the bank's convention, check it by hand")
    mark = str(tx.get("CreditDebitIndicator") or "").upper()
    if mark not in ("CRDT", "DBIT"):
        raise ValueError(f"credit/debit mark {mark or '(none)'!r} is neither CRDT nor DBIT")
    if tx.get("AmountProblem"):
        raise ValueError(tx["AmountProblem"])
    minor, ccy = _minor(tx.get("Amount"), tx.get("Currency"))
    booked = _booking_date(tx.get("BookingDate") or tx.get("ValueDate"))
    payer = tx.get("DebtorName") if mark == "CRDT" else tx.get("CreditorName")
    text = (tx.get("RemittanceInformationFull") or tx.get("RemittanceInformation")
            or tx.get("AdditionalEntryInformation") or "")
    ref = tx.get("TransactionID") or tx.get("EndToEndId")
    return {"account": account, "date": booked.isoformat(), "amount_minor": minor if mark == "CRDT" else -minor,
            "currency": ccy, "payer_name": str(payer or "").strip(), "description": " ".join(str(text).split()),
            "bank_reference": str(ref).strip() if ref else None, "source": source}, ref


def read_camt053(path: str | Path, *, account: str | None = None) -> Statement:
    """Every booked entry of a camt.053 file (each transaction of a batched entry its own line); ``account``
    overrides the statement's IBAN as the lines' account."""
    from lxml import etree
    from pycamt.parser import Camt053ParseError

    p = Path(path)
    try:
        parser = _camt_parser(p.read_bytes())
        txs = parser.get_transactions()
        infos = parser.get_statement_info()
    except Camt053ParseError:
        infos = []
    except (etree.XMLSyntaxError, ValueError, OSError) as e:
        raise StatementError(f"{p}: not a readable camt.053 file ({type(e).__name__}: {e}); export the statement "
                             "again as ISO 20022 camt.053 XML") from None
    if not infos:
        raise StatementError(f"{p}: no statement (BkToCstmrStmt/Stmt) in the file: is it a camt.053 statement?")
    default_account = account or next((str(i["IBAN"]) for i in infos if i.get("IBAN")), None) or p.stem
    lines, rejects = [], []
    seen: dict[str, int] = {}
    for n, tx in enumerate(txs, start=1):
        acct = account or tx.get("AccountIBAN") or default_account
        try:
            line, ref = _camt_line(tx, account=acct, source=p.name)
        except (ValueError, MoneyError) as e:
            rejects.append({"source": p.name, "row": n, "reason": str(e), "raw": dict(tx)})
            continue
        key = str(ref) if ref else ""
        seen[key] = seen.get(key, 0) + 1
        bank_ref = f"{ref}/{seen[key]}" if ref and seen[key] > 1 else line["bank_reference"]
        lines.append({"line_id": line_id(acct, bank_ref, line["date"], line["amount_minor"], line["payer_name"],
                                         line["description"], seen[key]), **line})
    return _frame(lines, rejects)


# -- MT940 ---------------------------------------------------------------------------------------------------
_STATEMENT_START = re.compile(r"^:20:", re.MULTILINE)
_TX_START = re.compile(r"^:61:", re.MULTILINE)
_TRAILER = re.compile(r"^:6[24][FM]?:", re.MULTILINE)
# value date, entry date, mark, funds code, amount with its decimal comma, type (N/S/F + 3): SWIFT's :61: start
_FIELD_61 = re.compile(r":61:[0-9]{6}([0-9]{4})?R?[CD][A-Z]?[0-9]{1,12},[0-9]{0,3}[NSF][A-Z0-9]{3}")


def _mt940_text(p: Path) -> str:
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")  # what banks send when not UTF-8; every byte has a character


def _mt940_parse(text: str):
    import mt940
    from mt940 import processors

    options = mt940.Options(reversal_sign=True, case_insensitive_marks=True, merge_keeps_values=True,
                            strip_bom=True)
    return mt940.parse(text, options=options,
                       processors={"post_transaction_details": [processors.transaction_details_post_processor]})


def _mt940_blocks(text: str) -> list[tuple[str, list[str], str]]:
    """Each statement as (header up to the first :61:, transaction chunks, trailer from :62:)."""
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    out = []
    for i, s in enumerate(starts):
        block = text[s:starts[i + 1] if i + 1 < len(starts) else len(text)]
        tail = _TRAILER.search(block)
        body, trailer = (block[:tail.start()], block[tail.start():]) if tail else (block, "")
        cuts = [m.start() for m in _TX_START.finditer(body)]
        header = body[:cuts[0]] if cuts else body
        chunks = [body[c:cuts[j + 1] if j + 1 < len(cuts) else len(body)] for j, c in enumerate(cuts)]
        out.append((header, chunks, trailer))
    return out


def _mt940_line(tx: Any, *, account: str, source: str) -> dict[str, Any]:
    d = tx.data
    amount = d.get("amount")
    if amount is None:
        raise ValueError("no amount")
    if not d.get("id"):
        raise ValueError("no transaction type after the amount (4 characters such as NTRF): the :61: amount or "
                         "type is malformed")
    status = str(d.get("status") or "").upper()
    if status not in ("C", "D"):
        raise ValueError(f"mark {status or '(none)'!r}: a reversal (RC/RD) or unknown mark, check it by hand")
    minor, ccy = _minor(abs(amount.amount), amount.currency)
    booked = d.get("entry_date") or d.get("date")
    if booked is None:
        raise ValueError("no date")
    text = " ".join(str(d.get("purpose") or d.get("transaction_details") or "").split())
    ref = d.get("bank_reference") or (d.get("customer_reference") if d.get("customer_reference") not in
                                      (None, "NONREF") else None)
    return {"account": account, "date": booked.isoformat(), "amount_minor": minor if status == "C" else -minor,
            "currency": ccy, "payer_name": " ".join(str(d.get("applicant_name") or "").split()),
            "description": text, "bank_reference": str(ref).strip() if ref else None, "source": source}


def _mt940_transactions(header: str, chunks: list[str], trailer: str) -> list[tuple[str, Any]]:
    """Each chunk with its parsed transaction, or the exception that parsing it alone raised: the statement is
    parsed whole first, chunk by chunk only when that fails (so one bad :61: costs only its own line)."""
    try:
        whole = list(_mt940_parse(header + "".join(chunks) + trailer))
        if len(whole) == len(chunks):
            return list(zip(chunks, whole, strict=True))
    except RuntimeError:
        pass
    out: list[tuple[str, Any]] = []
    for chunk in chunks:
        try:
            parsed = _mt940_parse(header + chunk + trailer)
            out.append((chunk, parsed[0] if len(parsed) == 1 else
                        ValueError(f"{len(parsed)} transactions in one :61: field")))
        except RuntimeError as e:
            out.append((chunk, e))
    return out


def read_mt940(path: str | Path, *, account: str | None = None) -> Statement:
    """Every ``:61:`` transaction of an MT940 file (several statements may follow each other); a transaction
    that does not read is quarantined alone with the library's reason, the others are read."""
    p = Path(path)
    text = _mt940_text(p).replace("\r\n", "\n")
    blocks = _mt940_blocks(text)
    if not blocks:
        raise StatementError(f"{p}: no MT940 statement (no :20: field); export the statement as SWIFT MT940")
    logging.getLogger("mt940").setLevel(logging.CRITICAL)  # it logs raw field values on a failed match
    lines, rejects = [], []
    seen: dict[tuple, int] = {}
    row = 0
    for header, chunks, trailer in blocks:
        try:
            head = _mt940_parse(header + trailer)
        except RuntimeError as e:
            raise StatementError(f"{p}: the statement header does not read ({e.args[0]}); fields :20:, :25:, "
                                 ":28C: and :60F: must be as MT940 defines them") from None
        acct = account or str(head.data.get("account_identification") or p.stem)
        for chunk, tx in _mt940_transactions(header, chunks, trailer):
            row += 1
            try:
                if isinstance(tx, Exception):
                    raise tx
                if not _FIELD_61.match(chunk):
                    raise ValueError(f"{chunk.splitlines()[0][:60]!r} is not a :61: field as MT940 defines it (dates "
                                     "YYMMDD[MMDD], mark C/D, amount with a decimal comma, type such as NTRF)")
                line = _mt940_line(tx, account=acct, source=p.name)
            except (RuntimeError, ValueError, MoneyError, InvalidOperation) as e:
                reason = e.args[0] if isinstance(e, RuntimeError) and e.args else str(e)
                rejects.append({"source": p.name, "row": row, "reason": str(reason), "raw": {"text": chunk.strip()}})
                continue
            ref = line["bank_reference"]
            key = (ref,) if ref else (line["date"], line["amount_minor"], line["payer_name"], line["description"])
            seen[key] = seen.get(key, 0) + 1
            unique_ref = f"{ref}/{seen[key]}" if ref and seen[key] > 1 else ref
            lines.append({"line_id": line_id(acct, unique_ref, *key, seen[key]), **line})
    return _frame(lines, rejects)
