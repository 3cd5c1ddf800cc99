"""Contract checks block posting and show their failure cases."""

import pyarrow as pa_arrow

from sync_pipeline.contracts.warehouse import CleanTimeEntry, InvoiceDraftLine
from sync_pipeline.defs.definitions import defs
from sync_pipeline.defs.quality.checks import contract_result, contract_result_sql
from sync_pipeline.store.warehouse import Warehouse, arrow_schema


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


def test_a_per_entry_partition_is_checked_in_sql_with_the_same_rules(tmp_path):
    """clean_time_entries / billables: checked in DuckDB over the stored file (big partitions never come to
    pandas); the rules are the pandera model's."""
    from sync_pipeline.services import billing
    from sync_pipeline_tests.billing.helpers import AFTER_OCT, OCT, entity, entry, raw_frame

    wh = Warehouse(tmp_path)
    clean = billing.clean_time_entries(raw_frame([entry("e1"), entry("e2", hours="-1")]), entity(), OCT, AFTER_OCT)
    wh.write("clean_time_entries", "acme-uk", OCT.key, clean, CleanTimeEntry)
    ok = contract_result_sql(wh, "clean_time_entries", CleanTimeEntry, "acme-uk", OCT.key)
    assert ok.passed and ok.metadata["rows"].value == 2 and ok.metadata["failure_count"].value == 0
    broken = clean.copy()
    broken.loc[0, "disposition"] = "maybe"  # written around the contract (by hand, or by an older version)
    wh.write_arrow("clean_time_entries", "acme-uk", OCT.key,
                   pa_arrow.Table.from_pandas(broken, schema=arrow_schema(CleanTimeEntry), preserve_index=False))
    res = contract_result_sql(wh, "clean_time_entries", CleanTimeEntry, "acme-uk", OCT.key)
    # the value is not allowed, and a row that is not billable must carry a reason
    assert res.passed is False and res.metadata["failure_count"].value == 2, res.metadata["failure_cases"].value
    cases = res.metadata["failure_cases"].value
    assert "disposition: isin" in cases and "maybe" in cases and "non_billable_rows_have_reason" in cases
