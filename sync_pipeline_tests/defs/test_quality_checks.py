"""Contract checks block posting and show their failure cases."""

import pyarrow as pa_arrow

from sync_pipeline.contracts.warehouse import InvoiceDraftLine
from sync_pipeline.defs.definitions import defs
from sync_pipeline.defs.quality.checks import contract_result
from sync_pipeline.store.warehouse import Warehouse


def test_contract_checks_are_blocking_on_the_assets_before_posting():
    specs = {s.key.name: s for a in defs.asset_checks for s in a.check_specs}
    for name, asset in [("clean_time_entries_contract", "clean_time_entries"), ("billables_contract", "billables"),
                        ("invoice_drafts_contract", "invoice_drafts")]:
        assert specs[name].blocking and specs[name].asset_key.to_user_string() == asset


def test_a_partition_breaking_its_contract_fails_with_the_cases(tmp_path):
    wh = Warehouse(tmp_path)
    # a drafts partition written around the contract (by hand, or by an older version): negative line numbers
    table = pa_arrow.table({"entity": ["e"], "period": ["2026-10"], "line_no": [-1]})
    wh.write_arrow("invoice_drafts", "e", "2026-10", table)
    res = contract_result(wh, "invoice_drafts", InvoiceDraftLine, "e", "2026-10")
    assert res.passed is False
    assert res.metadata["failure_count"].value > 0
    assert "column" in res.metadata["failure_cases"].value  # a Markdown table of the cases
