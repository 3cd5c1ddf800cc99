"""Cash matching decisions: which bank line pays which invoices, by which rule, and what to do about it.

Pure: the candidates come from the SQL models in ``dbt_like_sql/`` and the probabilistic scores from
the Fellegi–Sunter model (``sync_pipeline.services.cash_matching``); this module holds the policy and
the cascade's decisions, all in integer minor units.

The cascade, in order (a bank line leaves it at the first rule that decides it):

1. ``existing_payment`` — the line is a payment already recorded in the accounting system: reconcile
   it, never apply it a second time;
2. ``exact_reference`` — the text carries the invoice number or our reference; one invoice or several
   (one payment for several invoices), the amount judged against what is due (exact, a difference
   within the write-off tolerance, an FX difference, a partial payment or an over-payment);
   ``near_reference`` — when the named invoices do not fit as written: the payer's invoices named exactly,
   one typo away or by their bare digits, of which exactly one (or one combination) fits the amount;
3. ``amount_counterparty`` — exactly the amount due, from the invoice's own contact, inside the date
   window, and only one such open invoice; ``amount_tolerance`` — no reference, the payer is the contact and
   exactly one of its open invoices fits within the write-off or FX tolerance (after all exact matches);
4. ``amount_subset`` — exactly the sum of two to four open invoices of the same contact (one payment for
   several invoices without a reference), and only one such combination;
5. ``fellegi_sunter`` — the probabilistic model's best candidate, settled only when its match
   probability is at or above ``auto_threshold``, clearly ahead of the runner-up and its amount fits.

Anything else becomes an exception carrying the context an accountant needs: the reason, and the
best candidates with their probabilities and the match weight of each comparison.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import combinations
from typing import Any

_LEGAL_FORMS = re.compile(r"\b(ltd|limited|plc|llp|gmbh|sarl|bv|spa|ag|inc|llc|corp|co|the)\b")


def name_key(name: str | None) -> str:
    """A counterparty name as a comparable key, as the ``cash_name_key`` SQL macro makes it: lower case,
    punctuation to spaces, legal forms dropped ("ACME CORP. LTD" and "Acme Corp Limited" both give "acme")."""
    s = re.sub(r"[^a-z0-9]+", " ", (name or "").lower())
    return " ".join(_LEGAL_FORMS.sub(" ", s).split())


OUTCOMES = ("auto_settled", "reconciled_payment", "proposed", "exception", "out_of_scope")
RULES = ("existing_payment", "exact_reference", "near_reference", "amount_counterparty", "amount_tolerance",
         "amount_subset", "fellegi_sunter", "none")


@dataclass(frozen=True)
class CashPolicy:
    """The tunable part of cash matching (per entity in ``docs/reconciliation.example.yaml``)."""

    auto_threshold: float = 0.99
    propose_threshold: float = 0.5
    writeoff_max_minor: int = 2000  # differences up to 20.00 (bank fees, small over-payments) are written off...
    writeoff_max_ratio: Decimal = Decimal("0.05")  # ...if also at most 5 % of the amount due
    fx_tolerance_ratio: Decimal = Decimal("0.03")  # FX: paid amount within 3 % of the converted amount due
    auto_partial: bool = True  # a referenced payment below the amount due is applied as a part payment
    partial_min_name_similarity: float = 0.85
    counterparty_min_similarity: float = 0.93  # for the amount_counterparty rule
    days_before: int = 7  # a payment may be dated this many days before the invoice...
    days_after: int = 180  # ...and this many after
    payment_days_before: int = 3
    payment_days_after: int = 10
    max_subset_candidates: int = 16
    # matches without a reference (amount_tolerance) need a difference that has an explanation: a bank charge is
    # a round amount (a multiple of fee_step_minor, at most the write-off tolerance), a residue up to
    # small_difference_minor is rounding or a small over-payment, and a foreign-currency payment arrives
    # converted at a bank rate up to fx_spread_ratio worse than the reference rate (less a bank charge)
    fee_step_minor: int = 50
    small_difference_minor: int = 100
    fx_spread_ratio: Decimal = Decimal("0.02")
    max_name_candidates: int = 12  # per line, of the invoices found by the payer's name alone (closest in amount,
    #                                and as many closest in date): big customers have hundreds
    min_name_similarity: float = 0.8  # a payer name this similar to a contact's (sharing a stem) is a candidate
    max_amount_candidates: int = 20  # an exact amount shared by more open invoices than this (a retainer's fee)
    #                                  finds no candidate without the payer's name or a reference
    max_labels: int = 20000  # deterministic matches used to estimate the model's m, per kind (a seeded sample)
    bank_account: str = "090"
    writeoff_account: str = "404"  # bank fees / small differences
    fx_account: str = "4910"  # informational: the accounting system books realised FX gains and losses


@dataclass(frozen=True)
class Allocation:
    invoice_id: str
    applied_minor: int  # in the invoice's currency
    currency: str
    line_share_minor: int  # the part of the bank line it takes, in the line's currency


@dataclass
class Decision:
    line_id: str
    outcome: str
    rule: str
    confidence: float
    line_amount_minor: int
    line_currency: str
    allocations: list[Allocation] = field(default_factory=list)
    payment_id: str | None = None
    writeoff_minor: int = 0  # in the line's currency: < 0 an expense (fee, short payment), > 0 income
    amount_kind: str = ""  # exact | writeoff | fx | partial | over | n/a
    reason: str = ""
    explanation: dict[str, Any] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def invoice_ids(self) -> list[str]:
        return [a.invoice_id for a in self.allocations]


@dataclass(frozen=True)
class Assessment:
    kind: str  # exact | writeoff | fx | partial | over
    diff_minor: int  # line amount - expected, in the line's currency


def assess_amount(line_minor: int, expected_minor: int, same_currency: bool, policy: CashPolicy) -> Assessment:
    """Judge a paid amount against the amount due (both in the line's currency)."""
    diff = line_minor - expected_minor
    if diff == 0:
        return Assessment("exact", 0)
    tol = min(policy.writeoff_max_minor, int(Decimal(expected_minor) * policy.writeoff_max_ratio))
    if not same_currency:
        fx_tol = int(Decimal(expected_minor) * policy.fx_tolerance_ratio) + policy.writeoff_max_minor
        if abs(diff) <= fx_tol:
            return Assessment("fx", diff)
    elif abs(diff) <= tol:
        return Assessment("writeoff", diff)
    return Assessment("partial" if diff < 0 else "over", diff)


def _to_invoice_minor(line_minor: int, expected_line_minor: int, due_minor: int) -> int:
    """A part of a line converted back into the invoice's currency at the pair's implied rate."""
    if expected_line_minor == due_minor:
        return line_minor
    return int((Decimal(line_minor) * Decimal(due_minor) / Decimal(expected_line_minor)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP))


class Ledger:
    """What is still open while the cascade runs: remaining amount due per invoice, lines decided."""

    def __init__(self, due: dict[str, int], currency: dict[str, str]) -> None:
        self.due = dict(due)
        self.currency = currency
        self.decided: set[str] = set()

    def open(self, invoice_id: str) -> bool:
        return self.due.get(invoice_id, 0) > 0

    def apply(self, d: Decision) -> Decision:
        """Record a decision; only an automatic settlement consumes what is due (proposals wait for a person)."""
        if d.outcome == "auto_settled":
            for a in d.allocations:
                self.due[a.invoice_id] = self.due.get(a.invoice_id, 0) - a.applied_minor
        self.decided.add(d.line_id)
        return d


def _full_allocations(rows: Sequence[dict[str, Any]], ledger: Ledger) -> list[Allocation]:
    return [Allocation(r["invoice_id"], ledger.due[r["invoice_id"]], r["invoice_currency"],
                       _expected(r, ledger)) for r in rows]


def _expected(r: dict[str, Any], ledger: Ledger) -> int:
    """The remaining amount due of a candidate, in the line's currency."""
    due_now = ledger.due[r["invoice_id"]]
    if r["invoice_currency"] == r["line_currency"]:
        return due_now
    exp, due0 = int(r["expected_line_minor"]), int(r["amount_due_minor"])
    return exp if due_now == due0 else _to_invoice_minor(due_now, due0, exp)


def settle(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger, policy: CashPolicy, *, rule: str,
           confidence: float, explanation: dict[str, Any], partial_ok: bool) -> Decision:
    """Decide a line against one or more invoices it is matched to by ``rule``."""
    amount, ccy = int(line["line_amount_minor"]), str(line["line_currency"])
    expected = sum(_expected(r, ledger) for r in rows)
    same_ccy = all(r["invoice_currency"] == ccy for r in rows)
    a = assess_amount(amount, expected, same_ccy, policy)
    base = {"line_id": line["line_id"], "rule": rule, "confidence": confidence, "line_amount_minor": amount,
            "line_currency": ccy, "amount_kind": a.kind, "explanation": {**explanation, "expected_minor": expected,
                                                                          "difference_minor": a.diff_minor}}
    if a.kind in ("exact", "writeoff", "fx"):
        allocs = _full_allocations(rows, ledger)
        if a.kind == "fx":  # the line's amount is spread over the invoices in proportion
            allocs = _spread(amount, allocs)
        return ledger.apply(Decision(outcome="auto_settled", allocations=allocs,
                                     writeoff_minor=a.diff_minor if a.kind == "writeoff" else 0,
                                     reason=_why(a, rule), **base))
    if a.kind == "partial" and len(rows) == 1 and partial_ok:
        r = rows[0]
        applied = _to_invoice_minor(amount, _expected(r, ledger), ledger.due[r["invoice_id"]])
        return ledger.apply(Decision(
            outcome="auto_settled",
            allocations=[Allocation(r["invoice_id"], applied, r["invoice_currency"], amount)],
            reason=f"part payment: {amount} of {expected} due (minor units); the rest stays open", **base))
    what = {"partial": "less than", "over": "more than"}[a.kind]
    why = (f"pays {what} the amount due ({amount} vs {expected} minor units, difference {a.diff_minor}) "
           f"and is above the write-off tolerance")
    if len(rows) > 1:
        why = f"references {len(rows)} invoices but {why}: decide how to allocate it"
    elif a.kind == "over":
        why += ": refund the customer or apply the rest to another invoice"
    else:
        why += ": confirm it is a part payment, or write the difference off"
    return Decision(outcome="exception", allocations=_full_allocations(rows, ledger), reason=why,
                    candidates=[_candidate(r, ledger) for r in rows], **{**base, "confidence": confidence})


def _spread(amount: int, allocs: list[Allocation]) -> list[Allocation]:
    total = sum(a.line_share_minor for a in allocs) or 1
    out, left = [], amount
    for i, a in enumerate(allocs):
        share = left if i == len(allocs) - 1 else amount * a.line_share_minor // total
        left -= share
        out.append(Allocation(a.invoice_id, a.applied_minor, a.currency, share))
    return out


def _why(a: Assessment, rule: str) -> str:
    return {"exact": "amount equals the amount due",
            "writeoff": f"difference of {a.diff_minor} minor units written off (within tolerance)",
            "fx": f"paid in another currency; difference of {a.diff_minor} minor units at the day's reference rate "
                  "is a realised FX gain/loss"}[a.kind] + f" ({rule.replace('_', ' ')})"


def _candidate(r: dict[str, Any], ledger: Ledger | None = None) -> dict[str, Any]:
    keep = ("invoice_id", "invoice_currency", "amount_due_minor", "expected_line_minor", "name_similarity",
            "days_after_invoice", "by_ref", "by_fuzzy", "by_name", "by_amount", "match_probability", "match_weight",
            "weights")
    out = {k: r[k] for k in keep if k in r}
    if ledger is not None:
        out["remaining_due_minor"] = ledger.due.get(r["invoice_id"], 0)
    return out


def decide_existing_payment(line: dict[str, Any], pays: Sequence[dict[str, Any]], ledger: Ledger, *,
                            by_reference: bool, competing: bool = False) -> Decision | None:
    """Stage 1: a line that is an already recorded payment.

    ``by_reference``: the text names the paid invoice. Otherwise the payer is the invoice's contact and
    the text names no invoice at all (a line naming another invoice is about that one), no other line
    fits the same payment, and no open invoice of that contact is ``competing`` for it (exactly the amount).
    """
    if by_reference:
        pick = [p for p in pays if p["by_ref"]]
    else:
        pick = [p for p in pays if (p["same_counterparty"] or p["name_similarity"] >= 0.9)
                and not p["line_has_reference"]]
        if pick and (any(not p.get("unique_to_line", True) for p in pick) or competing):
            return None
    if not pick:
        return None
    base = {"line_id": line["line_id"], "line_amount_minor": int(line["line_amount_minor"]),
            "line_currency": line["line_currency"], "rule": "existing_payment"}
    if len(pick) > 1:
        return ledger.apply(Decision(outcome="exception", confidence=0.5, amount_kind="n/a",
                                     reason=f"matches {len(pick)} payments already recorded with this amount: "
                                            "pick the one it is", candidates=[dict(p) for p in pick], **base))
    p = pick[0]
    return ledger.apply(Decision(
        outcome="reconciled_payment", confidence=1.0 if p["by_ref"] else 0.995, payment_id=p["payment_id"],
        amount_kind="exact",
        allocations=[Allocation(p["invoice_id"], int(p["amount_minor"]), p["invoice_currency"],
                                int(p["line_amount_minor"]))],
        reason="the payment is already recorded in the accounting system; reconciled to it, not applied again",
        explanation={"by_reference": bool(p["by_ref"]), "same_counterparty": bool(p["same_counterparty"]),
                     "days_after_payment": int(p["days_after_payment"])}, **base))


def references_only_settled(rows: Sequence[dict[str, Any]], ledger: Ledger) -> bool:
    """The text names invoices, and every one of them is already settled (this run): a typo or a duplicate."""
    refs = [r for r in rows if r["by_ref"]]
    return bool(refs) and not any(ledger.open(r["invoice_id"]) for r in refs)


def decide_reference(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger, policy: CashPolicy,
                     paid_reference: str | None = None) -> Decision | None:
    """Stage 2: the text names one or several invoices."""
    open_refs = [r for r in rows if r["by_ref"] and ledger.open(r["invoice_id"])]
    if not open_refs:
        return None
    counterpart_ok = all(r["same_counterparty"] or r["name_similarity"] >= policy.partial_min_name_similarity
                         for r in open_refs)
    return settle(line, open_refs, ledger, policy, rule="exact_reference", confidence=1.0,
                  explanation={"referenced": [r["invoice_id"] for r in open_refs],
                               "name_similarity": [round(float(r["name_similarity"]), 3) for r in open_refs]},
                  partial_ok=policy.auto_partial and counterpart_ok)


def _payer_is(r: dict[str, Any], min_similarity: float) -> bool:
    return bool(r["same_counterparty"]) or float(r["name_similarity"]) >= min_similarity


def _fits(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger, policy: CashPolicy) -> bool:
    """The line pays exactly these invoices' remaining amounts (a write-off or FX difference allowed)."""
    expected = sum(_expected(r, ledger) for r in rows)
    same_ccy = all(r["invoice_currency"] == line["line_currency"] for r in rows)
    return assess_amount(int(line["line_amount_minor"]), expected, same_ccy, policy).kind in ("exact", "writeoff", "fx")


def decide_named(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger,
                 policy: CashPolicy) -> Decision | None:
    """Stage 2 as a whole: the named invoices as written when they fit the amount; else a repaired reading of the
    numbers (``decide_near_reference``) when exactly one fits; else the named invoices with the amount judged
    (a part payment, or an exception saying what does not fit)."""
    open_refs = [r for r in rows if r["by_ref"] and ledger.open(r["invoice_id"])]
    if open_refs and _fits(line, open_refs, ledger, policy):
        return decide_reference(line, rows, ledger, policy)
    d = decide_near_reference(line, rows, ledger, policy)
    return d if d is not None else decide_reference(line, rows, ledger, policy)


def decide_near_reference(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger,
                          policy: CashPolicy) -> Decision | None:
    """Stage 2b: the text names invoices, but not in a way that fits as written — a number one typo away from
    (or the bare digits of) an open invoice of the payer, or a typo that lands on someone else's invoice.

    The candidates are the payer's open invoices the text names exactly, one typo away or by their digits;
    exactly one of them, or exactly one combination of two to four of them (a payment for several invoices with
    one number mistyped), must fit the amount (exact, within write-off tolerance, or FX).
    """
    pool = [r for r in rows if (r["by_ref"] or r["by_fuzzy"] or r["digits_hit"]) and ledger.open(r["invoice_id"])
            and _payer_is(r, policy.partial_min_name_similarity)]
    if not pool:
        return None
    hits: list[tuple[dict[str, Any], ...]] = [(r,) for r in pool if _fits(line, [r], ledger, policy)]
    if not hits and len(pool) > 1:
        pool = sorted(pool, key=lambda r: (not r["by_ref"], abs(int(r["days_after_invoice"]))))
        pool = pool[: policy.max_subset_candidates]
        for k in (2, 3, 4):
            for combo in combinations(pool, k):
                if len({r["contact_id"] for r in combo}) == 1 and _fits(line, combo, ledger, policy):
                    hits.append(combo)
                    if len(hits) > 1:
                        break
            if hits:
                break
    if not hits and len(pool) == 1 and policy.auto_partial and int(line["line_amount_minor"]) < _expected(
            pool[0], ledger):
        hits = [(pool[0],)]  # the one invoice of the payer the text names, paid in part
    if len(hits) != 1:
        return None
    combo = hits[0]
    return settle(line, list(combo), ledger, policy, rule="near_reference", confidence=0.99,
                  explanation={"invoices": [r["invoice_id"] for r in combo],
                               "named_exactly": [r["invoice_id"] for r in combo if r["by_ref"]],
                               "one_typo_away": [r["invoice_id"] for r in combo if r["by_fuzzy"]],
                               "digits": [r["invoice_id"] for r in combo if r["digits_hit"]],
                               "name_similarity": [round(float(r["name_similarity"]), 3) for r in combo]},
                  partial_ok=len(combo) == 1)


def explained_difference(line_minor: int, expected_minor: int, same_currency: bool, policy: CashPolicy) -> bool:
    """A difference a payment without a reference may carry (see ``CashPolicy``): a round bank charge, a
    rounding residue or small over-payment, or an FX conversion at a bank rate a little worse than the reference."""
    diff = line_minor - expected_minor
    if abs(diff) <= policy.small_difference_minor:
        return True
    fee_cap = min(policy.writeoff_max_minor, int(Decimal(expected_minor) * policy.writeoff_max_ratio))
    if same_currency:
        return diff < 0 and -diff <= fee_cap and -diff % policy.fee_step_minor == 0
    spread = int(Decimal(expected_minor) * policy.fx_spread_ratio)
    return -(spread + policy.writeoff_max_minor) <= diff < 0


def decide_amount_tolerance(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger,
                            policy: CashPolicy) -> Decision | None:
    """Stage 3b: the payer is the contact, and exactly one of its open invoices dated on or before the line fits
    the amount with an explained difference (``explained_difference``: a bank charge, a small over-payment, an
    FX conversion). Run after the exact rules, so exact amounts have taken their invoices. Not for a line whose
    text names an invoice that is none of the payer's (``names_invoice``): that is for a person to look at."""
    amount = int(line["line_amount_minor"])
    hits = [r for r in rows if ledger.open(r["invoice_id"])
            and _payer_is(r, policy.counterparty_min_similarity)
            and 0 <= int(r["days_after_invoice"]) <= policy.days_after
            and explained_difference(amount, _expected(r, ledger), r["invoice_currency"] == line["line_currency"],
                                     policy)]
    if len(hits) != 1:
        return None
    r = hits[0]
    if any((o["by_ref"] or o["by_fuzzy"] or o["digits_hit"]) and o["invoice_id"] != r["invoice_id"]
           and o["contact_id"] == r["contact_id"] for o in rows):
        return None  # the text names another invoice of the payer: a part payment of that one, most likely
    if line.get("names_invoice") and not (r["by_ref"] or r["by_fuzzy"] or r["digits_hit"]):
        return None
    return settle(line, [r], ledger, policy, rule="amount_tolerance", confidence=0.99,
                  explanation={"name_similarity": round(float(r["name_similarity"]), 3),
                               "days_after_invoice": int(r["days_after_invoice"])}, partial_ok=False)


def decide_amount_counterparty(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger,
                               policy: CashPolicy) -> Decision | None:
    """Stage 3: exactly the amount due, from the right counterparty, one open invoice only."""
    hits = [r for r in rows if r["by_amount"] and ledger.open(r["invoice_id"])
            and ledger.due[r["invoice_id"]] == r["amount_due_minor"]
            and (r["same_counterparty"] or r["name_similarity"] >= policy.counterparty_min_similarity)]
    if len(hits) != 1:
        return None
    r = hits[0]
    return settle(line, [r], ledger, policy, rule="amount_counterparty", confidence=0.995,
                  explanation={"name_similarity": round(float(r["name_similarity"]), 3),
                               "days_after_invoice": int(r["days_after_invoice"])}, partial_ok=False)


def _subsets(amounts: Sequence[int], target: int, k: int, limit: int = 2) -> list[tuple[int, ...]]:
    """Index tuples (ascending) of ``k`` amounts summing exactly to ``target``; stops after ``limit``."""
    n = len(amounts)
    found: list[tuple[int, ...]] = []
    if k == 2:
        seen: dict[int, list[int]] = {}
        for j, a in enumerate(amounts):
            for i in seen.get(target - a, []):
                found.append((i, j))
                if len(found) >= limit:
                    return found
            seen.setdefault(a, []).append(j)
        return found
    if k == 3:
        where: dict[int, list[int]] = {}
        for i, a in enumerate(amounts):
            where.setdefault(a, []).append(i)
        for i in range(n):
            for j in range(i + 1, n):
                for m in where.get(target - amounts[i] - amounts[j], []):
                    if m > j:
                        found.append((i, j, m))
                        if len(found) >= limit:
                            return found
        return found
    pairs: dict[int, list[tuple[int, int]]] = {}
    for i in range(n):
        for j in range(i + 1, n):
            pairs.setdefault(amounts[i] + amounts[j], []).append((i, j))
    for i in range(n):
        for j in range(i + 1, n):
            for m, q in pairs.get(target - amounts[i] - amounts[j], []):
                if m > j:
                    found.append((i, j, m, q))
                    if len(found) >= limit:
                        return found
    return found


def decide_subset(line: dict[str, Any], rows: Sequence[dict[str, Any]], ledger: Ledger,
                  policy: CashPolicy, required: frozenset[str] = frozenset()) -> Decision | None:
    """Stage 4: exactly the sum of 2–4 open invoices of the same contact, one combination only.

    The pool is the contact's open invoices in the line's currency, closest in date first: the
    ``3 × max_subset_candidates`` closest for pairs, ``1.5 ×`` for triples and ``max_subset_candidates``
    for quadruples, so that an exact sum found by coincidence stays unlikely (a few thousand combinations
    against amounts in minor units). Two combinations that fit (at any size) are ambiguous: none is taken.
    ``required``: invoices the text names, which the combination must include (a reference stage
    misfit: the customer paid a named invoice together with others it did not name).
    """
    amount = int(line["line_amount_minor"])
    pool, seen = [], set()
    exact_payer = any(r["same_counterparty"] for r in rows)
    for r in rows:
        if (r["invoice_id"] not in seen and (r["same_counterparty"] or not exact_payer and float(
                r["name_similarity"]) >= policy.counterparty_min_similarity)
                and r["invoice_currency"] == line["line_currency"] and ledger.open(r["invoice_id"])
                and ledger.due[r["invoice_id"]] < amount
                and -policy.days_before <= int(r["days_after_invoice"]) <= policy.days_after):
            pool.append(r)
            seen.add(r["invoice_id"])
    if len(pool) < 2 or len({r["contact_id"] for r in pool}) != 1:
        return None
    pool.sort(key=lambda r: (abs(int(r["days_after_invoice"])), r["invoice_id"]))
    n = policy.max_subset_candidates
    found: list[tuple[dict[str, Any], ...]] = []
    for k, size in ((2, 3 * n), (3, n + n // 2), (4, n)):
        part = pool[:size]
        for idx in _subsets([ledger.due[r["invoice_id"]] for r in part], amount, k, limit=2):
            combo = tuple(part[i] for i in idx)
            if required <= {r["invoice_id"] for r in combo}:
                found.append(combo)
        if len(found) > 1:
            return None  # ambiguous: leave it to the model and the accountant
    if len(found) != 1:
        return None
    combo = found[0]
    return settle(line, list(combo), ledger, policy, rule="amount_subset", confidence=0.99,
                  explanation={"invoices": [r["invoice_id"] for r in combo], "named_in_text": sorted(required)},
                  partial_ok=False)


def decide_scored(line: dict[str, Any], scored: Sequence[dict[str, Any]], ledger: Ledger, policy: CashPolicy,
                  ) -> Decision:
    """Stage 5: the probabilistic model's view. ``scored`` rows carry match_probability/weight and weights."""
    live = sorted((r for r in scored if ledger.open(r["invoice_id"])), key=lambda r: -float(r["match_probability"]))
    base = {"line_id": line["line_id"], "line_amount_minor": int(line["line_amount_minor"]),
            "line_currency": line["line_currency"], "rule": "fellegi_sunter"}
    if not live:
        return ledger.apply(Decision(outcome="exception", confidence=0.0, amount_kind="n/a",
                                     reason="no open invoice is a plausible match (no reference, amount or payer "
                                            "in common): is it a receipt for something else?", **{**base,
                                                                                                  "rule": "none"}))
    # a line pays at most one of its candidates (combinations were the subset rule's job): the chance that it
    # is this one is its odds over one plus the odds of all of them
    odds = [2.0 ** min(float(r["match_weight"]), 60.0) for r in live]
    total = 1.0 + sum(odds)
    posterior = [o / total for o in odds]
    best = live[0]
    p1 = posterior[0]
    p2 = posterior[1] if len(live) > 1 else 0.0
    expl = {"match_probability": float(best["match_probability"]), "match_weight": float(best["match_weight"]),
            "posterior_among_candidates": p1, "weights": best.get("weights", {}), "runner_up_posterior": p2,
            "candidates_scored": len(live)}
    named = any(best.get(k) for k in ("by_ref", "by_fuzzy", "digits_hit"))
    explained = explained_difference(int(line["line_amount_minor"]), _expected(best, ledger),
                                     best["invoice_currency"] == line["line_currency"], policy)
    if p1 >= policy.auto_threshold and (named or explained):
        d = settle(line, [best], ledger, policy, rule="fellegi_sunter", confidence=p1, explanation=expl,
                   partial_ok=False)
        if d.outcome == "auto_settled":
            return d
        d.candidates = [_candidate(r, ledger) for r in live[:3]]
        return ledger.apply(d)
    outcome = "proposed" if p1 >= policy.propose_threshold else "exception"
    why = (f"best candidate's probability is {p1:.3f} (runner-up {p2:.3f}), below the automatic threshold "
           f"{policy.auto_threshold}" + (": two candidates are close, pick the right one" if p2 > p1 / 4 else ""))
    if p1 >= policy.auto_threshold:
        why = (f"best candidate's probability is {p1:.3f}, but the text names no invoice and the difference of "
               f"{int(line['line_amount_minor']) - _expected(best, ledger)} minor units is neither a bank charge, "
               "rounding nor an FX conversion: confirm it")
    allocs = [Allocation(best["invoice_id"], ledger.due[best["invoice_id"]], best["invoice_currency"],
                         int(line["line_amount_minor"]))] if outcome == "proposed" else []
    return ledger.apply(Decision(outcome=outcome, confidence=p1, allocations=allocs, amount_kind="n/a", reason=why,
                                 explanation=expl, candidates=[_candidate(r, ledger) for r in live[:3]], **base))


def group_by(rows: Iterable[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out
