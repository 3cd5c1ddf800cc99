"""The metadata a finance user reads in the Dagster UI: money with currency, net/tax/gross, names, narrow tables."""

import pandas as pd

from sync_pipeline.defs.metadata import (
    dimension_table,
    money_total,
    money_total_exact,
    names_of,
    plan_totals_text,
    table,
)


def test_money_columns_carry_their_rows_currency():
    df = pd.DataFrame({"reference": ["INV-1", "INV-2"], "currency": ["GBP", "JPY"],
                       "subtotal_minor": [81750, 1200], "value": ["583.250000000000", "12.5"]})
    out = table(df, {"reference": "invoice", "subtotal_minor": "net", "value": "exact"},
                money=("subtotal_minor",), exact=("value",))
    assert list(out.columns) == ["invoice", "net", "exact"]  # no separate currency column needed
    assert out.values.tolist() == [["INV-1", "GBP 817.50", "GBP 583.25"], ["INV-2", "JPY 1,200", "JPY 13"]]


def test_missing_amounts_stay_empty():
    df = pd.DataFrame({"currency": ["GBP", None], "m": pd.array([None, 5], dtype="Int64")})
    assert table(df, {"m": "net"}, money=("m",))["net"].tolist() == ["", ""]


def test_totals_per_currency_in_one_line():
    df = pd.DataFrame({"currency": ["GBP", "GBP", "EUR"], "m": [81750, 16350, 58325], "v": ["1.005", "2", "3"]})
    assert money_total(df, "m") == "EUR 583.25 · GBP 981.00"
    assert money_total(df.iloc[0:0], "m") == "none"
    assert money_total_exact(df, "v") == "EUR 3.00 · GBP 3.01"


def test_the_per_dimension_table_is_narrow_and_names_clients_and_projects():
    dims = pd.DataFrame({
        "level": ["currency", "client", "project", "tax_code"], "key": ["GBP", "1", "11", "OUTPUT2"],
        "currency": ["GBP"] * 4, "source_count": [1, 1, 3, 4], "target_count": [1, 1, 2, 4],
        "source_minor": [81750, 81750, 75000, 81750], "target_minor": [81750, 81750, 60000, 81750],
        "status": ["match", "match", "mismatch", "match"]})
    md = dimension_table(dims, {"client": {"1": "Acme Ltd"}, "project": {"11": "Acme Website"}}).value
    header, _, *rows = md.splitlines()
    assert header == "| what | docs ours / acc. | ours (net) | accounting (net) | status |"
    assert rows[1] == "| client: Acme Ltd (client 1) | 1 / 1 | GBP 817.50 | GBP 817.50 | match |"
    assert rows[2] == "| project: Acme Website (project 11) | 3 / 2 | GBP 750.00 | GBP 600.00 | mismatch |"
    assert rows[3].startswith("| tax_code: OUTPUT2 |")


def test_names_of_takes_the_first_name_per_id():
    df = pd.DataFrame({"client_id": ["1", "1", "2", None], "client_name": ["Acme Ltd", "Acme", None, "x"]})
    assert names_of(df, "client_id", "client_name") == {"1": "Acme Ltd"}
    assert names_of(df, "client_id", "nope") == {}


def test_plan_totals_read_from_strings_or_minor_units_alike():
    from_strings = plan_totals_text({"GBP": {"invoiced": "90.00", "credited": "150.00", "net_change": "-60.00",
                                             "gross": "240.00"}}).value
    from_minor = plan_totals_text({"GBP": {"invoiced_minor": 9000, "credited_minor": 15000,
                                           "net_change_minor": -6000, "gross_minor": 24000}}).value
    assert from_strings == from_minor
    assert from_minor.splitlines()[2] == "| GBP | GBP 90.00 | GBP 150.00 | GBP -60.00 | GBP 240.00 |"
    assert "size of all writes" in from_minor.splitlines()[0]


def test_an_empty_frame_reads_as_no_rows_whatever_columns_it_has():
    from sync_pipeline.defs.metadata import preview

    assert preview(table(pd.DataFrame(), {"amount_minor": "amount"}, money=("amount_minor",))).value == "_(no rows)_"


def test_raw_source_rows_show_a_narrow_readable_preview():
    from sync_pipeline.defs.metadata import source_rows_table

    raw = pd.DataFrame([{"entry_id": "1001", "spent_date": "2026-10-05", "user_name": "Alice Archer",
                         "client_id": "1", "client_name": "Acme Corp", "project_id": "11", "project_name": None,
                         "hours": "2.5", "billable": True, "approval_status": "approved", "notes": "Checkout flow",
                         "extracted_at": "2026-12-07T06:22:04+00:00"}])
    out = source_rows_table(raw, "time")
    assert out.values.tolist() == [["1001", "2026-10-05", "Alice Archer", "Acme Corp (client 1)", "project 11", "2.5",
                                    True, "approved"]]
    exp = pd.DataFrame([{"expense_id": "9004", "spent_date": "2026-10-09", "user_name": "Bob", "client_id": "1",
                         "client_name": "Acme Corp", "project_id": "11", "project_name": "Acme Website",
                         "client_currency": "GBP", "total_cost": "40.5", "billable": True}])
    assert source_rows_table(exp, "expense")["cost"].tolist() == ["GBP 40.50"]
    assert source_rows_table(raw.iloc[0:0], "time").empty
