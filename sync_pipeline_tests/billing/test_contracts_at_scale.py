"""Billing contracts: the SQL-derived checks used for large partitions, and the v2 → v1 translators."""

from decimal import Decimal as D

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sync_pipeline.contracts import versions
from sync_pipeline.contracts.warehouse import Billable, CleanTimeEntry
from sync_pipeline.store.contract_sql import check_parquet
from sync_pipeline.store.warehouse import arrow_schema
from sync_pipeline_tests.billing.helpers import bill, entity, entry


def _write(tmp_path, name, df, model):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.Table.from_pandas(df[[f.name for f in arrow_schema(model)]], schema=arrow_schema(model),
                                        preserve_index=False), path)
    return str(path)


def test_sql_checks_accept_what_pandera_accepts_and_name_what_breaks(tmp_path):
    b = bill([entry("1"), entry("2", hours="-1"), entry("3", approved=False)], entity())
    con = duckdb.connect()
    assert check_parquet(con, CleanTimeEntry, _write(tmp_path, "clean", b.clean, CleanTimeEntry)) == []
    assert check_parquet(con, Billable, _write(tmp_path, "bills", b.billables, Billable)) == []

    bad = b.clean.copy()
    bad.loc[bad["entry_id"] == "3", "disposition"] = "written_off"  # not an allowed disposition
    bad.loc[bad["entry_id"] == "1", "reason"] = None
    bad.loc[bad["entry_id"] == "2", "reason"] = None  # quarantined without a reason
    bad.loc[bad["entry_id"] == "1", "period"] = "2026/10"
    problems = check_parquet(con, CleanTimeEntry, _write(tmp_path, "bad", bad, CleanTimeEntry))
    text = "\n".join(problems)
    assert "disposition: isin" in text and "period: str_matches" in text
    assert "frame: non_billable_rows_have_reason: 1 row(s) fail" in text  # entry 2: quarantined, no reason

    dup = pd.concat([b.billables, b.billables], ignore_index=True)
    assert check_parquet(con, Billable, _write(tmp_path, "dup", dup, Billable)) == ["entry_id: unique: 1 duplicate value(s)"]


def test_older_consumers_read_v2_lines_through_the_translator():
    b = bill([entry("1", hours="0.333333")], entity(clients=[{"source_id": "1", "name": "Acme Corp",
                                                               "discount_percent": "10"}]))
    v1 = versions.translate_frame("InvoiceDraftLine", b.drafts, 2, 1)
    assert list(v1.columns) == list(versions.snapshots("InvoiceDraftLine")[1]["columns"])
    time, discount = v1.iloc[0], v1.iloc[1]
    # 0.333333 h x 100 = 33.3333 → line 33.33; the discount line gets empty project/task ids for v1
    assert (time["quantity"], time["source_value"], time["line_amount_minor"]) == (D("0.333300"), D("33.33330000"), 3333)
    assert (discount["project_id"], discount["task_id"], discount["line_amount_minor"]) == ("", "", -333)
    old_bills = versions.translate_frame("Billable", b.billables, 2, 1)
    assert list(old_bills.columns) == list(versions.snapshots("Billable")[1]["columns"])
    assert old_bills.iloc[0]["value"] == D("33.33330000")
