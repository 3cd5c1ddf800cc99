"""camt.053 and MT940 statements read strictly into bank lines, on sample files made for these tests."""

from pathlib import Path

import pytest

from sync_pipeline.connectors.bank_statements import StatementError, read_statement, read_statements
from sync_pipeline.connectors.statement_formats import read_camt053, read_mt940

SAMPLES = Path(__file__).parent / "statements"
CAMT, MT940 = SAMPLES / "camt053_sample.xml", SAMPLES / "mt940_sample.sta"


def _rows(st):
    return st.lines[["date", "amount_minor", "currency", "payer_name", "description", "bank_reference"]] \
        .to_dict("records")


def test_camt053_booked_entries_become_lines_each_payment_of_a_batch_its_own():
    st = read_camt053(CAMT)
    assert _rows(st) == [
        {"date": "2026-10-05", "amount_minor": 59500, "currency": "EUR", "payer_name": "Globex GmbH",
         "description": "INV-00007 Globex October", "bank_reference": "BANKREF-0001"},
        {"date": "2026-10-12", "amount_minor": 70000, "currency": "EUR", "payer_name": "Initech SARL",
         "description": "INV-00011", "bank_reference": "BANKREF-0002"},
        {"date": "2026-10-12", "amount_minor": 50000, "currency": "EUR", "payer_name": "Initech SARL",
         "description": "INV-00012", "bank_reference": "BANKREF-0002"},
        {"date": "2026-10-31", "amount_minor": -5, "currency": "EUR", "payer_name": "",
         "description": "Account maintenance fee", "bank_reference": "BANKREF-0003"},
    ]
    assert set(st.lines["account"]) == {"DE89370400440532013000"}
    assert st.lines["line_id"].is_unique  # the batch's two payments share the bank's reference, not an id
    assert st.lines["line_id"].tolist()[:3] == ["DE89370400440532013000:BANKREF-0001",
                                                "DE89370400440532013000:BANKREF-0002",
                                                "DE89370400440532013000:BANKREF-0002/2"]
    reasons = dict(zip(st.rejects["row"], st.rejects["reason"], strict=True))
    assert reasons == {5: "entry status PDNG (not booked yet): it is read once the bank books it",
                       6: "amount 10.005 has more decimals than EUR allows"}


def test_camt053_account_override_and_dispatch_by_suffix():
    st = read_statement(CAMT, account="090", default_currency="GBP")
    assert set(st.lines["account"]) == {"090"}
    assert len(st.lines) == 4 and len(st.rejects) == 2


def test_mt940_transactions_become_lines_and_a_bad_one_is_quarantined_alone():
    st = read_mt940(MT940)
    assert _rows(st) == [
        {"date": "2026-10-05", "amount_minor": 59500, "currency": "EUR", "payer_name": "Globex GmbH",
         "description": "INV-00007 GlobexOctober", "bank_reference": "BANKREF-0101"},
        {"date": "2026-10-12", "amount_minor": 120000, "currency": "EUR", "payer_name": "Initech SARL",
         "description": "INV-00011 INV-00012", "bank_reference": "BANKREF-0102"},
        {"date": "2026-10-31", "amount_minor": -50, "currency": "EUR", "payer_name": "",
         "description": "Kontofuehrung", "bank_reference": "BANKREF-0104"},
    ]
    assert set(st.lines["account"]) == {"10020030/1234567890"}
    assert st.rejects["row"].tolist() == [3]
    assert "Unable to parse" in st.rejects["reason"].iloc[0]
    assert "X99,00" in st.rejects["raw"].iloc[0]["text"]


def test_all_four_formats_in_one_folder(tmp_path):
    for f in (CAMT, MT940):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "bank.csv").write_text("date,amount,currency,payer,description,bank_reference\n"
                                       "2026-10-07,250.00,EUR,Umbrella Corp,INV-00020,CSV-1\n", encoding="utf-8")
    (tmp_path / "truncated.xml").write_bytes(CAMT.read_bytes()[:300])
    st = read_statements(sorted(tmp_path.iterdir()), account="090", default_currency="EUR")
    assert len(st.lines) == 4 + 3 + 1
    assert sorted(st.rejects["source"]) == ["camt053_sample.xml", "camt053_sample.xml", "mt940_sample.sta",
                                            "truncated.xml"]
    whole = st.rejects[st.rejects["source"] == "truncated.xml"].iloc[0]  # one unreadable file stops no other
    assert whole["row"] == 0 and whole["reason"].startswith("the whole file: ") and "not a readable camt.053" in \
        whole["reason"]


@pytest.mark.parametrize(("name", "content", "says"), [
    ("broken.xml", b"<Document><BkToCstmrStmt>", "not a readable camt.053 file"),
    ("other.xml", b"<Document xmlns='urn:x'><Other/></Document>", "no statement (BkToCstmrStmt/Stmt)"),
    ("empty.sta", b"nothing here\n", "no MT940 statement"),
    ("badhead.sta", b":20:X\n:25:ACC\n:28C:1\n:60F:garbage\n:61:2610051005C1,00NTRFNONREF\n:62F:C261031EUR1,00\n",
     "the statement header does not read"),
    ("statement.pdf", b"%PDF", "unknown statement format '.pdf'"),
])
def test_unreadable_files_say_what_is_wrong(tmp_path, name, content, says):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(StatementError, match=None) as e:
        read_statement(p, account="090", default_currency="EUR")
    assert says in str(e.value) and name in str(e.value)


# -- camt.053: the amount booked on the account, never the amount the payer instructed ------------------------
def _camt_file(tmp_path, entries: str, version: str = "02"):
    p = tmp_path / f"camt053_{version}.xml"
    p.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-10-31T20:00:00+01:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>S1</Id><CreDtTm>2026-10-31T20:00:00+01:00</CreDtTm>
      <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
      {entries}
    </Stmt>
  </BkToCstmrStmt>
</Document>""", encoding="utf-8")
    return p


# A customer in the US pays USD 100.00; the bank converts and books EUR 92.50 (camt.053.001.02: the entry's Amt is
# the booked amount; the transaction has no Amt of its own, its AmtDtls say what was instructed and converted)
FX_ENTRY = """
      <Ntry>
        <Amt Ccy="EUR">92.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>2026-10-14</Dt></BookgDt><ValDt><Dt>2026-10-14</Dt></ValDt>
        <AcctSvcrRef>BANKREF-FX1</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>XBCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-INV-00031</EndToEndId></Refs>
          <AmtDtls>
            <InstdAmt><Amt Ccy="USD">100.00</Amt>
              <CcyXchg><SrcCcy>USD</SrcCcy><TrgtCcy>EUR</TrgtCcy><UnitCcy>USD</UnitCcy><XchgRate>0.925</XchgRate>
              </CcyXchg></InstdAmt>
            <TxAmt><Amt Ccy="EUR">92.50</Amt></TxAmt>
          </AmtDtls>
          <RltdPties><Dbtr><Nm>Hooli Inc</Nm></Dbtr></RltdPties>
          <RmtInf><Ustrd>INV-00031</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""


def test_camt053_v02_entry_instructed_in_another_currency_is_read_at_its_booked_amount(tmp_path):
    st = read_camt053(_camt_file(tmp_path, FX_ENTRY))
    assert _rows(st) == [{"date": "2026-10-14", "amount_minor": 9250, "currency": "EUR", "payer_name": "Hooli Inc",
                          "description": "INV-00031", "bank_reference": "BANKREF-FX1"}]
    assert st.rejects.empty


def test_camt053_v02_entry_with_only_an_instructed_amount_is_read_at_its_booked_amount(tmp_path):
    entry = FX_ENTRY.replace('<TxAmt><Amt Ccy="EUR">92.50</Amt></TxAmt>', "")
    st = read_camt053(_camt_file(tmp_path, entry))
    assert st.lines[["amount_minor", "currency"]].to_dict("records") == [{"amount_minor": 9250, "currency": "EUR"}]


BATCH = """
      <Ntry>
        <Amt Ccy="EUR">592.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>2026-10-15</Dt></BookgDt><AcctSvcrRef>BANKREF-B1</AcctSvcrRef>
        <NtryDtls>
          <TxDtls>
            <AmtDtls>{first}</AmtDtls>
            <RltdPties><Dbtr><Nm>Hooli Inc</Nm></Dbtr></RltdPties><RmtInf><Ustrd>INV-00031</Ustrd></RmtInf>
          </TxDtls>
          <TxDtls>
            <AmtDtls><TxAmt><Amt Ccy="EUR">500.00</Amt></TxAmt></AmtDtls>
            <RltdPties><Dbtr><Nm>Initech SARL</Nm></Dbtr></RltdPties><RmtInf><Ustrd>INV-00032</Ustrd></RmtInf>
          </TxDtls>
        </NtryDtls>
      </Ntry>"""
INSTRUCTED_USD = '<InstdAmt><Amt Ccy="USD">100.00</Amt></InstdAmt>'


def test_camt053_v02_batch_reads_each_transaction_at_its_amount_in_the_account_currency(tmp_path):
    st = read_camt053(_camt_file(tmp_path, BATCH.format(
        first=INSTRUCTED_USD + '<TxAmt><Amt Ccy="EUR">92.50</Amt></TxAmt>')))
    assert st.lines[["amount_minor", "currency", "payer_name"]].to_dict("records") == [
        {"amount_minor": 9250, "currency": "EUR", "payer_name": "Hooli Inc"},
        {"amount_minor": 50000, "currency": "EUR", "payer_name": "Initech SARL"}]


def test_camt053_batch_transaction_without_an_amount_in_the_account_currency_is_rejected(tmp_path):
    st = read_camt053(_camt_file(tmp_path, BATCH.format(first=INSTRUCTED_USD)))
    assert st.lines["payer_name"].tolist() == ["Initech SARL"]
    assert st.rejects[["row", "reason"]].to_dict("records") == [{"row": 1, "reason": (
        "a transaction of a batched entry booked in EUR gives no amount in EUR (only USD 100.00 instructed): "
        "its share of the entry is unknown, book it by hand")}]


def test_camt053_v08_transaction_amount_is_read_from_its_own_amt(tmp_path):
    entry = BATCH.format(first=INSTRUCTED_USD).replace(
        "<TxDtls>\n            <AmtDtls>" + INSTRUCTED_USD,
        '<TxDtls>\n            <Amt Ccy="EUR">92.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><AmtDtls>' + INSTRUCTED_USD)
    st = read_camt053(_camt_file(tmp_path, entry, version="08"))
    assert st.lines["amount_minor"].tolist() == [9250, 50000] and st.rejects.empty


def test_camt053_v08_charge_record_does_not_turn_a_credit_into_a_debit(tmp_path):
    # the bank took EUR 2.50 of charges on a EUR 92.50 credit: the charge record carries its own DBIT mark, the
    # transaction none (TxDtls/CdtDbtInd is optional); the entry and its transaction are credits
    entry = """
      <Ntry>
        <Amt Ccy="EUR">92.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>2026-10-14</Dt></BookgDt><AcctSvcrRef>BANKREF-C1</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-INV-00033</EndToEndId></Refs>
          <Amt Ccy="EUR">92.50</Amt>
          <Chrgs><Rcrd><Amt Ccy="EUR">2.50</Amt><CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>
          <RltdPties><Dbtr><Pty><Nm>Hooli Inc</Nm></Pty></Dbtr></RltdPties>
        </TxDtls></NtryDtls>
      </Ntry>"""
    st = read_camt053(_camt_file(tmp_path, entry, version="08"))
    assert st.lines[["amount_minor", "currency"]].to_dict("records") == [{"amount_minor": 9250, "currency": "EUR"}]
    batch = BATCH.format(first='<TxAmt><Amt Ccy="EUR">92.50</Amt></TxAmt>').replace(
        "</AmtDtls>", '</AmtDtls><Chrgs><Rcrd><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>')
    st = read_camt053(_camt_file(tmp_path, batch, version="08"))
    assert st.lines["amount_minor"].tolist() == [9250, 50000]
