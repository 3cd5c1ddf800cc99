"""Property tests at the bank-statement boundary: for every generated statement (CSV, camt.053, MT940; good entries
beside bad ones), reading never crashes, each entry is a line or a reject with a reason, every good entry is read
with its exact amount and sign (the booked one, whatever amount the payer instructed), nothing bad is read, and
line ids are unique (so none is de-duplicated away)."""

from __future__ import annotations

from decimal import Decimal
from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.bank_statements import read_csv
from sync_pipeline.connectors.statement_formats import read_camt053, read_mt940

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2)
days = st.integers(min_value=1, max_value=28)
names = st.text(st.characters(codec="latin-1", categories=["L", "Nd", "Zs"]), max_size=20)
refs = st.one_of(st.none(), st.sampled_from(["R1", "R2", "R3"]))  # repeated references on purpose
good = st.fixed_dictionaries({"ok": st.just(True), "amount": amounts, "credit": st.booleans(), "day": days,
                              "name": names, "ref": refs})
bad_amount = st.sampled_from(["10.005", "", "abc", "1e3", "-5.00", "NaN"])
bad = st.fixed_dictionaries({"ok": st.just(False), "amount": bad_amount, "credit": st.booleans(), "day": days,
                             "name": names, "ref": refs})
entries = st.lists(st.one_of(good, bad), max_size=12)
# what the payer instructed, in another currency (camt.053 AmtDtls/InstdAmt): never the amount read
instructed = st.one_of(st.none(), st.tuples(amounts, st.sampled_from(["USD", "GBP", "CHF", "JPY"])))


def _check(stmt, rows):
    assert len(stmt.lines) + len(stmt.rejects) == len(rows)
    assert stmt.lines["line_id"].is_unique
    assert all(stmt.rejects["reason"].str.len() > 0)
    expected = [(int(r["amount"] * 100) * (1 if r["credit"] else -1)) for r in rows if r["ok"]]
    assert stmt.lines["amount_minor"].tolist() == expected


def _camt(rows, instructed=()) -> str:
    ntry = []
    for r, instd in zip(rows, [*instructed, *[None] * len(rows)], strict=False):
        ref = f"<AcctSvcrRef>{r['ref']}</AcctSvcrRef>" if r["ref"] else ""
        amt_dtls = f"<AmtDtls><InstdAmt><Amt Ccy='{instd[1]}'>{instd[0]}</Amt></InstdAmt></AmtDtls>" if instd else ""
        ntry.append(f"<Ntry><Amt Ccy='EUR'>{escape(str(r['amount']))}</Amt><CdtDbtInd>{'CRDT' if r['credit'] else 'DBIT'}"
                    f"</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-10-{r['day']:02d}</Dt></BookgDt>{ref}<NtryDtls>"
                    f"<TxDtls>{amt_dtls}<RltdPties><{'Dbtr' if r['credit'] else 'Cdtr'}><Nm>{escape(r['name'])}</Nm>"
                    f"</{'Dbtr' if r['credit'] else 'Cdtr'}></RltdPties></TxDtls></NtryDtls></Ntry>")
    return ("<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'><BkToCstmrStmt><Stmt><Id>S</Id>"
            "<Acct><Id><IBAN>GB33BUKB20201555555555</IBAN></Id></Acct>" + "".join(ntry) + "</Stmt></BkToCstmrStmt>"
            "</Document>")


@given(entries, st.lists(instructed, max_size=12))
def test_camt053_every_entry_is_a_line_or_a_reject(tmp_path_factory, rows, instd):
    p = tmp_path_factory.mktemp("camt") / "s.xml"
    p.write_text(_camt(rows, instd), encoding="utf-8")
    stmt = read_camt053(p)
    _check(stmt, rows)
    ok = [r for r in rows if r["ok"]]
    assert stmt.lines["payer_name"].tolist() == [r["name"].strip() for r in ok]


def _mt940(rows) -> str:
    out = [":20:REF", ":25:GB33BUKB20201555555555", ":28C:1/1", ":60F:C261001GBP0,00"]
    for r in rows:
        amount = str(r["amount"]).replace(".", ",") if r["ok"] else r["amount"] or "x"
        ref = f"//{r['ref']}" if r["ref"] else ""
        out += [f":61:2610{r['day']:02d}{'C' if r['credit'] else 'D'}{amount}NTRFNONREF{ref}",
                f":86:payment {r['day']}"]
    return "\n".join([*out, ":62F:C261031GBP0,00", ""])


@given(entries)
def test_mt940_every_transaction_is_a_line_or_a_reject(tmp_path_factory, rows):
    p = tmp_path_factory.mktemp("mt940") / "s.sta"
    p.write_text(_mt940(rows), encoding="latin-1")
    _check(read_mt940(p), rows)


@given(entries)
def test_csv_every_row_is_a_line_or_a_reject(tmp_path_factory, rows):
    p = tmp_path_factory.mktemp("csv") / "s.csv"
    body = ["date,amount,currency,payer,description,bank_reference"]
    for r in rows:
        sign = "" if r["credit"] else "-"
        amount = f"{sign}{r['amount']}" if r["ok"] else str(r["amount"])
        name = r["name"].replace('"', "").replace(",", " ")
        body.append(f"2026-10-{r['day']:02d},{amount},GBP,\"{name}\",x,")
    p.write_text("\n".join(body) + "\n", encoding="utf-8")
    stmt = read_csv(p, account="090", default_currency="GBP")
    # CSV carries its sign in the amount: a bad amount here may still be a number ("-5.00" is a payment out)
    readable = [r for r in rows if r["ok"] or r["amount"] in ("-5.00", "1e3")]
    assert len(stmt.lines) + len(stmt.rejects) == len(rows)
    assert len(stmt.lines) == len(readable)
