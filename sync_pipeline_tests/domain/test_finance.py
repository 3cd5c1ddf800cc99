"""Finance invariants on hand-built frames: allocation to the minor unit, classification once per line, eliminations
net to zero, consolidated = translated entities + eliminations with no intercompany balance left."""

import pandas as pd

from sync_pipeline.domain.finance import (
    check_allocation,
    check_classification,
    check_consolidation,
    check_eliminations,
)


def frame(columns: str, *rows) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(columns.split(), r, strict=True)) for r in rows], columns=columns.split())


COST = frame("line_id disposition amount_minor pool_key currency",
             ("L1", "shared", 1000, "rent", "GBP"), ("L2", "shared", 501, "rent", "GBP"),
             ("L3", "shared", 300, "it", "EUR"), ("L4", "direct", 999, "rent", "GBP"))
ALLOC = frame("line_id allocated_minor pool_key currency",
              ("L1", 333, "rent", "GBP"), ("L1", 667, "rent", "GBP"), ("L2", 250, "rent", "GBP"),
              ("L2", 251, "rent", "GBP"))
UNALLOC = frame("line_id amount_minor pool_key currency reason", ("L3", 300, "it", "EUR", "no drivers"))


# -- allocation ---------------------------------------------------------------------------------------------------

def test_every_shared_line_allocated_to_the_minor_unit_or_listed_unallocated():
    r = check_allocation(COST, ALLOC, UNALLOC)
    assert (r.passed, r.problems) == (True, [])
    assert r.figures == {"pools": {"it EUR": {"pool": 300, "allocated": 0, "unallocated": 300},
                                   "rent GBP": {"pool": 1501, "allocated": 1501, "unallocated": 0}},
                         "lines": 3, "unallocated_lines": 1}


def test_allocation_problems_are_named_per_line_and_pool():
    short = ALLOC.copy()
    short.loc[3, "allocated_minor"] = 250
    r = check_allocation(COST, short, UNALLOC)
    assert r.problems == ["line L2: allocated 500 ≠ line amount 501 (diff -1)",
                          "pool rent GBP: allocated 1500 + unallocated 0 ≠ pool 1501"]
    over = ALLOC.copy()
    over.loc[3, "allocated_minor"] = 252
    assert check_allocation(COST, over, UNALLOC).problems[0] == "line L2: allocated 502 ≠ line amount 501 (diff 1)"
    both = pd.concat([ALLOC, frame("line_id allocated_minor pool_key currency", ("L3", 300, "it", "EUR"))])
    assert check_allocation(COST, both, UNALLOC).problems == [
        "line L3 is both allocated (300) and listed as unallocated",
        "pool it EUR: allocated 300 + unallocated 300 ≠ pool 300"]
    zero = pd.concat([ALLOC, frame("line_id allocated_minor pool_key currency", ("L3", 0, "it", "EUR"))])
    assert check_allocation(COST, zero, UNALLOC).passed  # a zero allocation is no allocation
    r = check_allocation(COST, ALLOC, UNALLOC.iloc[0:0])
    assert r.problems == ["shared line L3 (300) is neither allocated nor listed as unallocated",
                          "pool it EUR: allocated 0 + unallocated 0 ≠ pool 300"]
    stray = pd.concat([ALLOC, frame("line_id allocated_minor pool_key currency", ("L4", 5, "rent", "GBP"),
                                    ("L0", 5, "rent", "GBP"))])
    assert check_allocation(COST, stray, UNALLOC).problems == [
        "allocated line L0 is not a shared line of the partition",
        "allocated line L4 is not a shared line of the partition",
        "pool rent GBP: allocated 1511 + unallocated 0 ≠ pool 1501"]


def test_nothing_shared_allocates_nothing():
    empty = COST.iloc[0:0]
    r = check_allocation(empty, ALLOC.iloc[0:0], UNALLOC.iloc[0:0])
    assert (r.passed, r.figures) == (True, {"pools": {}, "lines": 0, "unallocated_lines": 0})
    direct_only = COST[COST["disposition"] == "direct"]
    assert check_allocation(direct_only, ALLOC.iloc[0:0], UNALLOC.iloc[0:0]).figures["lines"] == 0


# -- classification -----------------------------------------------------------------------------------------------

SOURCE = frame("line_id amount_minor currency", ("a", 100, "GBP"), ("b", 50, "GBP"), ("c", 7, "EUR"),
               ("d", None, None))
CLASSIFIED = frame("line_id amount_minor currency disposition", ("a", 100, "GBP", "shared"),
                   ("b", 50, "GBP", "direct"), ("c", 7, "EUR", "direct"), ("d", None, None, "ignored"))


def test_each_source_line_classified_once_with_its_amount():
    r = check_classification(SOURCE, CLASSIFIED)
    assert (r.passed, r.problems) == (True, [])
    assert r.figures == {"GBP": {"source": 150, "classified": 150}, "EUR": {"source": 7, "classified": 7},
                         "dispositions": {"direct": 2, "shared": 1, "ignored": 1}}


def test_classification_problems_list_up_to_ten_ids():
    extra = pd.concat([CLASSIFIED.iloc[[0, 0, 1]], frame("line_id amount_minor currency disposition",
                                                         *[(f"x{i:02d}", 1, "GBP", "direct") for i in range(12)])])
    r = check_classification(SOURCE, extra)
    assert r.problems == [
        "2 line(s) missing from the classified lines: c, d",
        "12 line(s) not in the source: " + ", ".join(f"x{i:02d}" for i in range(10)),
        "1 line(s) classified more than once: a",
        "EUR: source 7 ≠ classified 0",
        "GBP: source 150 ≠ classified 262",
    ]


def test_nothing_to_classify():
    r = check_classification(SOURCE.iloc[0:0], CLASSIFIED.iloc[0:0])
    assert (r.passed, r.figures) == (True, {})
    r = check_classification(SOURCE, CLASSIFIED.iloc[0:0])
    assert r.problems[0] == "4 line(s) missing from the classified lines: a, b, c, d"
    assert r.figures == {"GBP": {"source": 150, "classified": 0}, "EUR": {"source": 7, "classified": 0}}


# -- eliminations -------------------------------------------------------------------------------------------------

ELIM = frame("pair kind account amount_reporting_minor statement",
             ("uk|de", "sales", "ic_revenue", -1000, "pnl"), ("uk|de", "sales", "ic_expenses", 990, "pnl"),
             ("uk|de", "sales", "ic_difference", 10, "pnl"),
             ("uk|de", "balance", "ic_receivable", -500, "balance"), ("uk|de", "balance", "ic_payable", 500,
                                                                      "balance"))


def test_eliminations_net_to_zero_per_pair_and_kind():
    r = check_eliminations(ELIM)
    assert (r.passed, r.problems) == (True, [])
    assert r.figures == {"per_pair": {"uk|de balance": 0, "uk|de sales": 0},
                         "ic_differences": {"uk|de sales": 10}, "entries": 5}


def test_eliminations_that_do_not_net_are_named():
    off = ELIM.copy()
    off.loc[2, "amount_reporting_minor"] = 11
    off.loc[3, "amount_reporting_minor"] = -501
    r = check_eliminations(off)
    assert r.problems == ["eliminations of uk|de (balance) sum to -1, not 0",
                          "eliminations of uk|de (sales) sum to 1, not 0"]
    assert r.passed is False
    # pairs that each net to zero... but one more row that is a pair of its own
    alone = pd.concat([ELIM, frame("pair kind account amount_reporting_minor statement",
                                   ("uk|fr", "sales", "ic_revenue", 5, "pnl"))])
    assert check_eliminations(alone).problems == ["eliminations of uk|fr (sales) sum to 5, not 0",
                                                  "all eliminations sum to 5, not 0"]
    assert check_eliminations(ELIM.iloc[0:0]).figures == {"per_pair": {}, "ic_differences": {}, "entries": 0}


# -- consolidation ------------------------------------------------------------------------------------------------

TRANSLATED = frame("entity statement account counterparty amount_reporting_minor",
                   ("uk", "pnl", "sales", None, 5000), ("de", "pnl", "sales", None, 3000),
                   ("uk", "pnl", "ic_revenue", "de", 1000), ("de", "pnl", "ic_expenses", "uk", -990),
                   ("uk", "pnl", "ic_revenue", "ext", 200), ("uk", "balance", "cash", None, 700),
                   ("de", "oci", "fx", None, 4))
ELIMS = frame("statement account amount_reporting_minor",
              ("pnl", "ic_revenue", -1000), ("pnl", "ic_expenses", 990))
CONSOLIDATED = frame("statement account entities_reporting_minor eliminations_minor consolidated_minor",
                     ("pnl", "sales", 8000, 0, 8000), ("pnl", "ic_revenue", 1200, -1000, 200),
                     ("pnl", "ic_expenses", -990, 990, 0), ("balance", "cash", 700, 0, 700), ("oci", "fx", 4, 0, 4))


def test_consolidated_is_entities_plus_eliminations_with_no_intercompany_left():
    r = check_consolidation(TRANSLATED, ELIMS, CONSOLIDATED)
    assert (r.passed, r.problems) == (True, [])
    assert r.figures == {"group_totals": {"pnl": 8200, "balance": 700, "oci": 4}, "lines": 5}


def test_consolidation_problems_name_the_line():
    wrong = CONSOLIDATED.copy()
    wrong.loc[0, "entities_reporting_minor"] = 7999
    wrong.loc[3, "eliminations_minor"] = 1
    wrong.loc[4, "consolidated_minor"] = 5
    r = check_consolidation(TRANSLATED, ELIMS, wrong)
    assert r.problems == [
        "balance cash: consolidated shows eliminations 1 but they sum to 0",
        "oci fx: consolidated 5 ≠ entities 4 + eliminations 0",
        "pnl sales: consolidated shows entities 7999 but translated entities sum to 8000",
    ]
    missing = CONSOLIDATED.iloc[[0, 1, 2, 3]]
    assert check_consolidation(TRANSLATED, ELIMS, missing).problems == [
        "oci fx: missing from the consolidated totals (entities 4)"]
    extra = pd.concat([CONSOLIDATED, frame("statement account entities_reporting_minor eliminations_minor "
                                           "consolidated_minor", ("pnl", "other", 0, 0, 0))])
    assert check_consolidation(TRANSLATED, ELIMS, extra).passed  # a zero line nobody expected is no problem
    extra.iloc[-1, extra.columns.get_loc("consolidated_minor")] = 3
    assert check_consolidation(TRANSLATED, ELIMS, extra).problems == [
        "pnl other: consolidated 3 ≠ entities 0 + eliminations 0"]


def test_an_intercompany_balance_left_in_the_group_is_named():
    no_elims = ELIMS.iloc[0:0]
    cons = CONSOLIDATED.copy()
    cons.loc[1, ["eliminations_minor", "consolidated_minor"]] = [0, 1200]
    cons.loc[2, ["eliminations_minor", "consolidated_minor"]] = [0, -990]
    r = check_consolidation(TRANSLATED, no_elims, cons)
    assert r.problems == ["pnl ic_expenses: -990 left in the group totals after elimination",
                          "pnl ic_revenue: 1200 left in the group totals after elimination"]
    gone = cons[cons["account"] != "ic_expenses"]
    assert "pnl ic_expenses: 0 left" not in " ".join(check_consolidation(TRANSLATED, no_elims, gone).problems)
    empty = check_consolidation(TRANSLATED.iloc[0:0], ELIMS.iloc[0:0], CONSOLIDATED.iloc[0:0])
    assert (empty.passed, empty.figures) == (True, {"group_totals": {"pnl": 0, "balance": 0, "oci": 0}, "lines": 0})
