"""The demo group's configuration and bank statements, without running the demo: the composed mapping keeps acme-uk
as docs/mapping.example.yaml has it, and each bank's statement reads back (CSV, camt.053, MT940) to the receipts
written, mess included."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from sync_pipeline.connectors.bank_statements import read_statement
from sync_pipeline.contracts.finance import load_finance_config
from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.contracts.reconciliation import load_reconciliation_config
from sync_pipeline.defs import settings
from sync_pipeline.sandbox import demo_bank, demo_group


def test_composed_configs_add_two_entities_and_keep_acme_uk(tmp_path):
    env = demo_group.compose_configs(settings.PROJECT_ROOT, tmp_path, tmp_path / "statements")
    mapping = load_mapping(env["SYNC_PIPELINE_MAPPING"])
    assert [e.key for e in mapping.entities] == ["acme-uk", "acme-de", "acme-us"]
    assert {e.key: e.base_currency for e in mapping.entities} == {"acme-uk": "GBP", "acme-de": "EUR",
                                                                 "acme-us": "USD"}
    example = yaml.safe_load((settings.PROJECT_ROOT / "docs" / "mapping.example.yaml").read_text())
    composed = yaml.safe_load((tmp_path / "mapping.yaml").read_text())
    assert composed["entities"][0] == example["entities"][0]
    assert {e.key: e.xero_tenant_id for e in mapping.entities if e.key != "acme-uk"} == {
        k: v[1] for k, v in demo_group.ENTITIES.items()}
    recon = load_reconciliation_config(env["SYNC_PIPELINE_RECONCILIATION"])
    assert (recon.entity("acme-de").bank_currency, recon.entity("acme-us").bank_currency) == ("EUR", "USD")
    assert recon.statements_dir == str(tmp_path / "statements")
    finance = load_finance_config(env["SYNC_PIPELINE_FINANCE"])
    assert any((ic.entity, ic.counterparty) == ("acme-de", "acme-uk") for ic in finance.intercompany)


def test_time_entries_cover_three_months_each_approved():
    for entity in demo_group.ENTITIES:
        entries = demo_group.time_entries(entity)
        assert {e["spent_date"][:7] for e in entries} == set(demo_group.PERIODS)
        assert len({e["id"] for e in entries}) == len(entries)
        assert all(e["approval_status"] == "approved" and e["billable"] for e in entries)


INVOICES = [{"InvoiceNumber": f"INV-{n:05d}", "Status": "AUTHORISED", "CurrencyCode": "EUR",
             "AmountDue": Decimal(f"{n}00.00"), "Contact": {"Name": "Van Dijk Logistics B.V."}} for n in range(1, 9)]


def test_receipts_carry_the_mess_the_matcher_is_for():
    rows = demo_bank.receipts(INVOICES, "EUR")
    by_text = {r["description"]: (r["amount"], r["payer"]) for r in rows}
    assert by_text["INV-00001 thank you"] == ("100.00", "Van Dijk Logistics B.V.")
    assert by_text["INV-00002 less charges"] == ("187.50", "VAN DIJK LOGISTICS B.V.")  # a 12.50 fee kept back
    assert by_text["part payment INV-00003"] == ("120.00", "Van Dijk Logistics B.V.")  # 40 %
    assert by_text["INV-00004 INV-00005"] == ("900.00", "Van Dijk Logistics B.V.")  # two in one transfer
    assert by_text["Invoice INV 0O006"] == ("600.00", "Van Dyk Logistics B.V.")  # typos in number and name
    assert by_text["services September"] == ("700.00", "VDL Group Holding B.V.")  # renamed, no number
    assert by_text["Account maintenance fee"] == ("-4.50", "")
    assert len({r["bank_reference"] for r in rows}) == len(rows)


@pytest.mark.parametrize("entity", ["acme-uk", "acme-de", "acme-us"])
def test_each_banks_statement_reads_back_to_the_receipts(tmp_path, entity):
    path, n = demo_bank.write_statement(entity, INVOICES, tmp_path, "EUR")
    st = read_statement(path, account="090", default_currency="EUR")
    assert st.rejects.empty and len(st.lines) == n == len(demo_bank.receipts(INVOICES, "EUR"))
    expected = sorted(int(Decimal(r["amount"]) * 100) for r in demo_bank.receipts(INVOICES, "EUR"))
    assert sorted(st.lines["amount_minor"]) == expected
    assert "VDL Group Holding B.V." in set(st.lines["payer_name"])
