"""Conservation computed in DuckDB (big partitions, the bench) agrees with the frame version and catches breaks."""

from decimal import Decimal as D

import duckdb
import pandas as pd

from sync_pipeline.domain.billing import entry_facts
from sync_pipeline.services.billing import check_conservation_sql, entry_facts_sql
from sync_pipeline_tests.billing.helpers import bill, ecb, entity, entry


def _billed():
    ent = entity(clients=[{"source_id": "1", "name": "Acme Corp"},
                          {"source_id": "2", "name": "Euro AG", "currency": "EUR"}])
    return bill([
        entry("a1", hours="1.5", rate="100"), entry("a2", hours="0.333333", rate="90"),
        entry("a3", hours="2", rate="100", approved=False),                       # held: 200 GBP
        entry("a4", hours="-1"), entry("a5", billable=False),
        entry("e1", client="2", currency="EUR", hours="3", rate="80"),
        entry("e2", client="2", currency="EUR", hours="1.25", rate="80", approved=False),  # held: 100 EUR
    ], ent, rates=ecb([("GBP", "2026-10-30", "0.8338")]))


def _con(clean: pd.DataFrame, bills: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("clean", clean)
    con.register("bills", bills)
    con.register("raw", pd.DataFrame({"entry_id": list(clean["entry_id"])}))
    return con


def test_sql_facts_equal_the_frame_facts():
    b = _billed()
    con = _con(b.clean, b.billables)
    facts = entry_facts_sql(con, "raw", "clean", "bills", b.drafts)
    assert facts == entry_facts(len(b.clean), b.clean, b.billables, b.drafts)
    assert facts.held_value == {"GBP": D("200"), "EUR": D("100")}
    assert facts.counts == {"billable": 3, "held": 2, "quarantined": 1, "non_billable": 1}
    result = check_conservation_sql(con, "raw", "clean", "bills", b.drafts)
    assert result.passed, result.problems
    assert result.per_currency == b.conservation.per_currency


def test_sql_conservation_names_entries_off_their_lines_and_lost_value():
    b = _billed()
    drafts = b.drafts.copy()
    time = drafts.index[drafts["kind"] == "time"]
    # one line forgets an entry, another cites it twice and a non-billable one
    drafts.loc[time[0], "source_entry_ids"] = "a1"
    drafts.loc[time[-1], "source_entry_ids"] = drafts.loc[time[-1], "source_entry_ids"] + ",a1,a5"
    result = check_conservation_sql(_con(b.clean, b.billables), "raw", "clean", "bills", drafts)
    assert not result.passed
    assert "an entry appears on more than one invoice line" in result.problems
    assert "billable entries not on a line: ['a2']; lines citing non-billable entries: ['a5']" in result.problems

    bills = b.billables[b.billables["entry_id"] != "e1"]  # a billable entry lost between the steps
    result = check_conservation_sql(_con(b.clean, bills), "raw", "clean", "bills", b.drafts)
    assert "3 billable entries but 2 billable rows" in result.problems
    assert any(p.startswith("EUR: time lines carry 240") for p in result.problems)


def test_sql_conservation_is_not_fooled_by_a_doubled_billable_row_hiding_a_missing_one():
    b = _billed()
    bills = b.billables.copy()
    bills.loc[bills["entry_id"] == "a2", "entry_id"] = "a1"  # a1 twice, a2 gone: the counts still agree
    result = check_conservation_sql(_con(b.clean, bills), "raw", "clean", "bills", b.drafts)
    assert "billable entries not on a line: []; lines citing non-billable entries: ['a2']" in result.problems
    assert "a billable entry has more than one row (3 rows, 2 entries)" in result.problems


def test_sql_conservation_catches_a_doubled_billable_row_the_lines_do_not_show():
    b = _billed()
    bills = pd.concat([b.billables, b.billables[b.billables["entry_id"] == "e1"]], ignore_index=True)
    clean = b.clean.copy()
    clean.loc[clean["entry_id"] == "a4", "disposition"] = "billable"  # the counts of billable entries agree
    result = check_conservation_sql(_con(clean, bills), "raw", "clean", "bills", b.drafts)
    assert "a billable entry has more than one row (4 rows, 3 entries)" in result.problems
    assert not check_conservation_sql(_con(b.clean, b.billables), "raw", "clean", "bills", b.drafts).problems
