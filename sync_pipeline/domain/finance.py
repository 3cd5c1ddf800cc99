"""Finance invariants, checked independently of the SQL that produced the figures. Pure, no I/O.

- allocation: every shared line is allocated exactly (to the minor unit) or listed as unallocated with a
  reason, so per pool and currency: allocated + unallocated = pool;
- eliminations net to zero across entities, per counterparty pair and in total;
- consolidated totals equal the sum of the translated entity totals plus the eliminations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class CheckOutcome:
    passed: bool
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def _ints(values) -> int:
    return sum(int(v) for v in values)


def check_allocation(cost_lines: pd.DataFrame, allocations: pd.DataFrame, unallocated: pd.DataFrame) -> CheckOutcome:
    """Allocations sum exactly to the pool: per line, and per pool and currency."""
    problems: list[str] = []
    shared = cost_lines[cost_lines["disposition"] == "shared"] if len(cost_lines) else cost_lines
    amounts = {r.line_id: int(r.amount_minor) for r in shared.itertuples()} if len(shared) else {}
    allocated: dict[str, int] = defaultdict(int)
    for r in allocations.itertuples():
        allocated[r.line_id] += int(r.allocated_minor)
    unalloc = set(unallocated["line_id"]) if len(unallocated) else set()
    for line_id, amount in sorted(amounts.items()):
        got = allocated.get(line_id)
        if line_id in unalloc:
            if got:
                problems.append(f"line {line_id} is both allocated ({got}) and listed as unallocated")
        elif got is None:
            problems.append(f"shared line {line_id} ({amount}) is neither allocated nor listed as unallocated")
        elif got != amount:
            problems.append(f"line {line_id}: allocated {got} ≠ line amount {amount} (diff {got - amount})")
    for line_id in sorted(set(allocated) - set(amounts)):
        problems.append(f"allocated line {line_id} is not a shared line of the partition")
    pools: dict[str, dict[str, int]] = {}
    for (pool, ccy), g in (shared.groupby(["pool_key", "currency"]) if len(shared) else []):
        pools.setdefault(f"{pool} {ccy}", {"pool": 0, "allocated": 0, "unallocated": 0})["pool"] = _ints(g["amount_minor"])
    for df, col, kind in ((allocations, "allocated_minor", "allocated"), (unallocated, "amount_minor", "unallocated")):
        for (pool, ccy), g in (df.groupby(["pool_key", "currency"]) if len(df) else []):
            pools.setdefault(f"{pool} {ccy}", {"pool": 0, "allocated": 0, "unallocated": 0})[kind] = _ints(g[col])
    for key, t in sorted(pools.items()):
        if t["allocated"] + t["unallocated"] != t["pool"]:
            problems.append(f"pool {key}: allocated {t['allocated']} + unallocated {t['unallocated']} ≠ pool {t['pool']}")
    return CheckOutcome(not problems, problems, {"pools": pools, "lines": len(amounts),
                                                 "unallocated_lines": len(unalloc)})


def check_classification(source: pd.DataFrame, classified: pd.DataFrame) -> CheckOutcome:
    """Each source line appears once in the classified lines, with the same amount; totals per currency agree."""
    problems: list[str] = []
    src_ids, out_ids = list(source["line_id"]) if len(source) else [], list(classified["line_id"]) if len(classified) else []
    missing, extra = sorted(set(src_ids) - set(out_ids)), sorted(set(out_ids) - set(src_ids))
    dupes = sorted({i for i in out_ids if out_ids.count(i) > 1})
    for label, ids in (("missing from the classified lines", missing), ("not in the source", extra),
                       ("classified more than once", dupes)):
        if ids:
            problems.append(f"{len(ids)} line(s) {label}: {', '.join(ids[:10])}")
    figures: dict[str, Any] = {}
    for name, df in (("source", source), ("classified", classified)):
        if not len(df):
            continue
        known = df[df["amount_minor"].notna() & df["currency"].notna()]
        for ccy, g in known.groupby("currency"):
            figures.setdefault(str(ccy), {"source": 0, "classified": 0})[name] = _ints(g["amount_minor"])
    for ccy, t in sorted(figures.items()):
        if t["source"] != t["classified"]:
            problems.append(f"{ccy}: source {t['source']} ≠ classified {t['classified']}")
    if len(classified):
        figures["dispositions"] = {str(k): int(v) for k, v in classified["disposition"].value_counts().items()}
    return CheckOutcome(not problems, problems, figures)


IC_ACCOUNTS = ("ic_revenue", "ic_expenses", "ic_receivable", "ic_payable")


def check_eliminations(eliminations: pd.DataFrame) -> CheckOutcome:
    """Eliminations net to zero across entities: per intercompany pair and kind, and in total."""
    problems: list[str] = []
    per_pair: dict[str, int] = {}
    for (pair, kind), g in (eliminations.groupby(["pair", "kind"]) if len(eliminations) else []):
        total = _ints(g["amount_reporting_minor"])
        per_pair[f"{pair} {kind}"] = total
        if total != 0:
            problems.append(f"eliminations of {pair} ({kind}) sum to {total}, not 0")
    total = _ints(eliminations["amount_reporting_minor"]) if len(eliminations) else 0
    if total != 0:
        problems.append(f"all eliminations sum to {total}, not 0")
    differences = {}
    if len(eliminations):
        d = eliminations[eliminations["account"] == "ic_difference"]
        differences = {f"{r.pair} {r.kind}": int(r.amount_reporting_minor) for r in d.itertuples()}
    return CheckOutcome(not problems, problems, {"per_pair": per_pair, "ic_differences": differences,
                                                 "entries": len(eliminations)})


def check_consolidation(translated: pd.DataFrame, eliminations: pd.DataFrame,
                        consolidated: pd.DataFrame) -> CheckOutcome:
    """Consolidated totals equal the sum of the translated entity totals plus the eliminations, per line; and
    no intercompany account between group entities is left in the group totals."""
    problems: list[str] = []
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in translated.itertuples():
        expected[(r.statement, r.account)][0] += int(r.amount_reporting_minor)
    for r in eliminations.itertuples():
        expected[(r.statement, r.account)][1] += int(r.amount_reporting_minor)
    got = {(r.statement, r.account): (int(r.entities_reporting_minor), int(r.eliminations_minor),
                                      int(r.consolidated_minor)) for r in consolidated.itertuples()}
    for key in sorted(set(expected) | set(got)):
        ent, elim = expected.get(key, [0, 0])
        g = got.get(key)
        if g is None:
            problems.append(f"{key[0]} {key[1]}: missing from the consolidated totals (entities {ent})")
            continue
        if g[0] != ent:
            problems.append(f"{key[0]} {key[1]}: consolidated shows entities {g[0]} but translated entities sum to {ent}")
        if g[1] != elim:
            problems.append(f"{key[0]} {key[1]}: consolidated shows eliminations {g[1]} but they sum to {elim}")
        if g[2] != ent + elim:
            problems.append(f"{key[0]} {key[1]}: consolidated {g[2]} ≠ entities {ent} + eliminations {elim}")
    group_entities = set(translated["entity"]) if len(translated) else set()
    if len(translated):
        internal = translated[translated["account"].isin(IC_ACCOUNTS)
                              & translated["counterparty"].isin(group_entities)]
        for stmt, acc in sorted(set(zip(internal["statement"], internal["account"], strict=True))):
            left = got.get((stmt, acc), (0, 0, 0))[2]
            external = translated[(translated["account"] == acc) & ~translated["counterparty"].isin(group_entities)]
            if left != _ints(external["amount_reporting_minor"]):
                problems.append(f"{stmt} {acc}: {left} left in the group totals after elimination")
    totals = {s: sum(v[2] for k, v in got.items() if k[0] == s) for s in ("pnl", "balance", "oci")}
    return CheckOutcome(not problems, problems, {"group_totals": totals, "lines": len(got)})
