"""The QBO query language: parsing (hypothesis at the boundary that reads outside text), evaluation, paging,
count, and the 4000/4001 faults over HTTP."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.sandbox import qbo_query
from sync_pipeline.sandbox.qbo_faults import QboFault
from sync_pipeline_tests.sandbox.conftest import QboApi


def test_parse_the_documented_grammar() -> None:
    q = qbo_query.parse("SELECT * FROM Invoice WHERE TxnDate >= '2026-01-01' AND CustomerRef IN ('1', '2') "
                        "AND DocNumber LIKE 'SYNC%' ORDERBY TxnDate DESC, Id STARTPOSITION 11 MAXRESULTS 5")
    assert q.entity == "Invoice" and not q.count
    assert [(c.prop, c.op, c.values) for c in q.where] == [("TxnDate", ">=", ("2026-01-01",)),
                                                           ("CustomerRef", "in", ("1", "2")),
                                                           ("DocNumber", "like", ("SYNC%",))]
    assert q.order == [("TxnDate", True), ("Id", False)] and (q.start, q.max_results) == (11, 5)
    assert qbo_query.parse("select count(*) from Customer where Active = true").count
    assert qbo_query.parse("select * from Customer order by DisplayName").order == [("DisplayName", False)]
    assert qbo_query.parse("select * from Customer").max_results == 100
    assert qbo_query.parse("select * from Customer maxresults 5000").max_results == 1000


@pytest.mark.parametrize("text, code", [
    ("select * from Customer where DisplayName = 'a' or DisplayName = 'b'", "4000"),  # OR is not supported
    ("select DisplayName from Customer", "4000"),  # no projections
    ("select * from Customer where DisplayName != 'a'", "4000"),
    ("select * from Customer where DisplayName = 'open", "4000"),
    ("select * from Customer maxresults 10 startposition 2", "4000"),
    ("", "4000"),
    ("select * from customer", "4001"),  # the entity name is case sensitive, as documented
    ("select * from Customer where Notes = 'x'", "4001"),  # not filterable
    ("select * from Invoice orderby PrivateNote", "4001"),
])
def test_refused_queries(text: str, code: str) -> None:
    with pytest.raises(QboFault) as e:
        qbo_query.parse(text)
    assert e.value.errors[0]["code"] == code
    assert e.value.errors[0]["Message"] == {"4000": "Error parsing query", "4001": "Invalid query"}[code]


def test_escaped_quotes() -> None:
    q = qbo_query.parse(r"select * from Customer where DisplayName = 'O\'Brien \\ Sons'")
    assert q.where[0].values == ("O'Brien \\ Sons",)


@given(st.text(max_size=80))
def test_any_text_parses_or_is_a_query_fault(text: str) -> None:
    try:
        qbo_query.parse(text)
    except QboFault as e:
        assert e.errors[0]["code"] in ("4000", "4001")


@given(st.text(max_size=40))
def test_a_quoted_name_finds_exactly_that_name(name: str) -> None:
    docs = [{"Id": "1", "DisplayName": name}, {"Id": "2", "DisplayName": name + "x"}]
    q = qbo_query.parse(f"select * from Customer where DisplayName = {qbo_query.quote(name)}")
    page, total = qbo_query.run(q, docs)
    assert [d["Id"] for d in page] == ["1"] and total == 1


@given(st.lists(st.integers(0, 10_000), max_size=30), st.integers(1, 40), st.integers(1, 12))
def test_paging_covers_every_match_once(amounts: list[int], start: int, size: int) -> None:
    docs = [{"Id": str(i + 1), "TotalAmt": a} for i, a in enumerate(amounts)]
    seen: list[str] = []
    pos = 1
    while True:
        q = qbo_query.parse(f"select * from Invoice where TotalAmt >= 0 orderby TotalAmt desc "
                            f"startposition {pos} maxresults {size}")
        page, total = qbo_query.run(q, docs)
        if not page:
            break
        seen += [d["Id"] for d in page]
        pos += size
    assert sorted(seen, key=int) == [d["Id"] for d in docs] and total == len(docs)
    assert start >= 1


def test_query_over_http_get_and_post(qbo: QboApi) -> None:
    for n in range(3):
        qbo.ok("POST", "customer", {"DisplayName": f"Query Co {n}", "CompanyName": "Q"})
    got = qbo.query("select * from Customer where DisplayName like 'Query Co%' orderby DisplayName desc "
                    "startposition 2 maxresults 1")
    assert [c["DisplayName"] for c in got["Customer"]] == ["Query Co 1"]
    assert (got["startPosition"], got["maxResults"]) == (2, 1)
    assert qbo.query("select count(*) from Customer where DisplayName like 'Query Co%'") == {"totalCount": 3}
    assert qbo.query("select * from Customer where DisplayName = 'nobody'") == {}
    posted = qbo.ok("POST", "query", "select * from Customer where DisplayName = 'Query Co 0'")
    assert posted["QueryResponse"]["Customer"][0]["CompanyName"] == "Q"
    err = qbo.fault("GET", "query", params={"query": "select * from Customer where Notes = 'x'"})
    assert (err["code"], err["Message"]) == ("4001", "Invalid query")
    when = qbo.query("select * from Customer where MetaData.LastUpdatedTime > '2000-01-01T00:00:00-08:00'")
    assert len(when["Customer"]) >= 3


def test_indexed_lookups_match_what_the_language_says(qbo: QboApi) -> None:
    income = qbo.query("select * from Account where Name = 'Services'")["Account"][0]["Id"]
    item = qbo.ok("POST", "item", {"Name": "Lookup Item", "Sku": "LK", "IncomeAccountRef": {"value": income}})
    cust = qbo.ok("POST", "customer", {"DisplayName": "Lookup Co"})["Customer"]["Id"]
    line = {"Amount": 1, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item["Item"]["Id"]}}}
    made = [qbo.ok("POST", "invoice", {"CustomerRef": {"value": cust}, "DocNumber": f"LK-{n}", "Line": [line]})[
        "Invoice"] for n in range(3)]
    ids = [i["Id"] for i in made]
    got = qbo.query(f"select * from Invoice where Id in ('{ids[0]}', '{ids[2]}', '999999')")
    assert [i["Id"] for i in got["Invoice"]] == [ids[0], ids[2]]
    got = qbo.query("select * from Invoice where DocNumber in ('LK-1', 'LK-2') and TotalAmt = '1' "
                    "orderby DocNumber desc")
    assert [i["DocNumber"] for i in got["Invoice"]] == ["LK-2", "LK-1"]
    assert qbo.query(f"select count(*) from Invoice where CustomerRef = '{cust}'") == {"totalCount": 3}
    assert qbo.query("select * from Item where Sku = 'LK'")["Item"][0]["Name"] == "Lookup Item"
    assert qbo.query("select * from Customer where DisplayName = 'lookup co'") == {}  # = is case-sensitive
    balance = qbo.query("select * from Customer where DisplayName = 'Lookup Co'")["Customer"][0]["Balance"]
    assert balance == 3
