"""The demo's bank statements: October's receipts of each entity, written from the invoices the accounting system
holds after posting, with the mess the cash matcher is for.

Per entity, invoices in number order are paid: exactly (the number in the text); short by a bank fee; in part;
two together in one transfer; with a typo in the number and the payer's name; by a payer that renamed itself,
without a number; plus a bank charge and a receipt nobody can place. Each entity's bank sends its own format:
acme-uk CSV, acme-de camt.053 (ISO 20022), acme-us SWIFT MT940.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sync_pipeline.connectors.bank_statements import write_csv

FORMATS = {"acme-uk": "csv", "acme-de": "camt053", "acme-us": "mt940"}
RENAMED = {"Van Dijk Logistics B.V.": "VDL Group Holding B.V.", "Initech LLC": "Initrode Holdings LLC",
           "Acme Corp": "Acme Corporation Group"}


def _typo(number: str) -> str:
    """INV-00007 → INV 0O007 (a zero read as the letter O, the dash lost)."""
    head, _, digits = number.partition("-")
    return f"{head} {digits[:1]}O{digits[2:]}" if len(digits) > 2 else number


def _name_typo(name: str) -> str:
    return name.replace("ij", "y", 1) if "ij" in name else name.replace("e", "a", 1)


def receipts(invoices: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    """Statement rows (date, signed amount, payer, description, bank reference) paying ``invoices`` messily."""
    inv = sorted((i for i in invoices if i.get("Status") == "AUTHORISED" and i.get("CurrencyCode") == currency),
                 key=lambda i: str(i.get("InvoiceNumber")))
    rows: list[dict[str, Any]] = []

    def add(day: int, amount: Decimal, payer: str, text: str) -> None:
        rows.append({"date": f"2026-10-{day:02d}", "amount": f"{amount:.2f}", "currency": currency, "payer": payer,
                     "description": text, "bank_reference": f"DEMO-{currency}-{len(rows) + 1:04d}"})

    def total(i: dict[str, Any]) -> Decimal:
        return Decimal(str(i["AmountDue"] if i.get("AmountDue") is not None else i["Total"]))

    def name(i: dict[str, Any]) -> str:
        return str(i["Contact"]["Name"])

    plan = ["exact", "fee", "partial", "combined", "typo", "renamed"]
    k, step = 0, 0
    while k < len(inv) and step < len(plan):
        i, kind = inv[k], plan[step]
        num = str(i["InvoiceNumber"])
        if kind == "exact":
            add(2, total(i), name(i), f"{num} thank you")
        elif kind == "fee":
            add(6, total(i) - Decimal("12.50"), name(i).upper(), f"{num} less charges")
        elif kind == "partial":
            add(9, (total(i) * Decimal("0.4")).quantize(Decimal("0.01")), name(i), f"part payment {num}")
        elif kind == "combined" and k + 1 < len(inv):
            j = inv[k + 1]
            add(13, total(i) + total(j), name(i), f"{num} {j['InvoiceNumber']}")
            k += 1
        elif kind == "typo":
            add(16, total(i), _name_typo(name(i)), f"Invoice {_typo(num)}")
        elif kind == "renamed":
            add(21, total(i), RENAMED.get(name(i), f"{name(i)} Holdings"), "services September")
        k += 1
        step += 1
    add(30, Decimal("-4.50"), "", "Account maintenance fee")
    add(27, Decimal("310.00"), "Northwind Traders", "REF 88213")
    return rows


def write_camt053(rows: list[dict[str, Any]], path: Path, *, iban: str, currency: str) -> Path:
    entries = []
    for r in rows:
        amt = Decimal(r["amount"])
        party = "Dbtr" if amt > 0 else "Cdtr"
        entries.append(
            f"<Ntry><Amt Ccy='{currency}'>{abs(amt):.2f}</Amt><CdtDbtInd>{'CRDT' if amt > 0 else 'DBIT'}</CdtDbtInd>"
            f"<Sts>BOOK</Sts><BookgDt><Dt>{r['date']}</Dt></BookgDt><ValDt><Dt>{r['date']}</Dt></ValDt>"
            f"<AcctSvcrRef>{escape(r['bank_reference'])}</AcctSvcrRef><NtryDtls><TxDtls>"
            + (f"<RltdPties><{party}><Nm>{escape(r['payer'])}</Nm></{party}></RltdPties>" if r["payer"] else "")
            + f"<RmtInf><Ustrd>{escape(r['description'])}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>")
    xml = ("<?xml version='1.0' encoding='UTF-8'?>\n<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'>"
           "<BkToCstmrStmt><GrpHdr><MsgId>DEMO-2026-10</MsgId><CreDtTm>2026-10-31T20:00:00+01:00</CreDtTm></GrpHdr>"
           f"<Stmt><Id>DEMO-2026-10</Id><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
           + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(xml, encoding="utf-8")
    return path


def write_mt940(rows: list[dict[str, Any]], path: Path, *, account: str, currency: str) -> Path:
    out = [":20:DEMO202610", f":25:{account}", ":28C:10/1", f":60F:C261001{currency}0,00"]
    balance = Decimal(0)
    for r in rows:
        amt = Decimal(r["amount"])
        balance += amt
        yymmdd = r["date"][2:].replace("-", "")
        out.append(f":61:{yymmdd}{yymmdd[2:]}{'C' if amt > 0 else 'D'}{abs(amt):.2f}".replace(".", ",")
                   + f"NTRFNONREF//{r['bank_reference']}")
        out.append(f":86:166?20{r['description'][:27]}" + (f"?32{r['payer'][:27]}" if r["payer"] else ""))
    out.append(f":62F:{'C' if balance >= 0 else 'D'}261031{currency}{abs(balance):.2f}".replace(".", ","))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\r\n".join([*out, "-"]) + "\r\n", encoding="utf-8")
    return path


def write_statement(entity: str, invoices: list[dict[str, Any]], folder: Path, currency: str) -> tuple[Path, int]:
    """The entity's October statement in its bank's format under ``folder``; the file and its line count."""
    rows = receipts(invoices, currency)
    kind = FORMATS.get(entity, "csv")
    if kind == "camt053":
        p = write_camt053(rows, folder / "statement-2026-10.xml", iban="DE89370400440532013000", currency=currency)
    elif kind == "mt940":
        p = write_mt940(rows, folder / "statement-2026-10.sta", account="021000021/4410098765", currency=currency)
    else:
        p = write_csv(rows, folder / "statement-2026-10.csv")
    return p, len(rows)
