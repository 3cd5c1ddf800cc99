"""What a person decides about cash-matching exceptions, fed back into settlement and the matching log.

- ``accept``: the proposed (or a chosen) invoice becomes the decision's allocation, status ``to_settle``
  — settled by the next ``cash_settlement`` run, or at once when the caller passes a settler; a payer
  name that is not the contact's becomes an alias the next matching run uses;
- ``reject``: the decision is closed as ``rejected`` and the pairs it proposed are never proposed again;
- ``comment``: appended to the decision's history;
- rule templates: a ``payer_alias`` (bank payer text → contact) or a ``writeoff_difference`` (accept a
  proposal whose difference is at most N minor units, writing it off to an account), applied across
  the chosen bank accounts in one go.
Every action is an event in the matching log with the person, their role and what changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sync_pipeline.domain.cash_matching import CashPolicy, assess_amount
from sync_pipeline.domain.money import from_minor, to_minor
from sync_pipeline.store import matching_log as ml

Settler = Callable[[list[int], str, str], dict[str, int]]
TEMPLATE_KINDS = ("payer_alias", "writeoff_difference")
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")
MAX_TEMPLATE_AMOUNT = Decimal(1_000_000)


class ReviewError(ValueError):
    """The action does not fit the decision (already final, amounts do not allow it...)."""


def _open(log: ml.MatchingLog, decision_id: int) -> dict[str, Any]:
    d = log.decision(decision_id)
    if d is None:
        raise ReviewError(f"no decision {decision_id}")
    if d["status"] != ml.OPEN:
        raise ReviewError(f"decision {decision_id} is {d['status']}, not open")
    return d


def _amount(minor: int, ccy: str) -> str:
    return f"{from_minor(int(minor), ccy):,}"


def _from_allocation(d: dict[str, Any], a: dict[str, Any]) -> dict[str, Any]:
    """The candidate a proposed allocation stands for (its candidate row when the decision kept one)."""
    match = next((c for c in d["candidates"] or [] if c.get("invoice_id") == a["invoice_id"]), {})
    return {"invoice_id": a["invoice_id"], "invoice_number": a["invoice_number"], "contact_name": a["contact_name"],
            "invoice_currency": a["currency"],
            "remaining_due_minor": match.get("remaining_due_minor", a["applied_minor"]),
            "amount_due_minor": match.get("amount_due_minor", a["applied_minor"]),
            "expected_line_minor": match.get("expected_line_minor", a["line_share_minor"]),
            "contact_id": match.get("contact_id"), "name_similarity": match.get("name_similarity")}


def _pool(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Every invoice the decision offers: its candidates, and its proposal's invoices if not among them."""
    cands = list(d["candidates"] or [])
    seen = {c.get("invoice_id") for c in cands}
    return cands + [_from_allocation(d, a) for a in d["allocations"] if a["invoice_id"] not in seen]


def _candidate(d: dict[str, Any], invoice_id: str | None) -> dict[str, Any]:
    if invoice_id:
        for c in _pool(d):
            if c.get("invoice_id") == invoice_id:
                return c
        raise ReviewError(f"invoice {invoice_id} is not among the candidates of decision {d['decision_id']}")
    if len(d["allocations"]) > 1:
        raise ReviewError(f"decision {d['decision_id']} proposes {len(d['allocations'])} invoices together and the "
                          "line does not pay them as due: accept one of them on the decision page, or allocate the "
                          "line in the accounting system")
    if d["allocations"]:
        return _from_allocation(d, d["allocations"][0])
    if d["candidates"]:
        return d["candidates"][0]
    raise ReviewError(f"decision {d['decision_id']} proposes no invoice: choose one, or reject it")


def _due(c: dict[str, Any]) -> int:
    """What is still due on the candidate invoice, in its currency."""
    return int(c.get("remaining_due_minor") if c.get("remaining_due_minor") is not None else
               c.get("amount_due_minor") or 0)


def _expected(d: dict[str, Any], c: dict[str, Any]) -> int:
    """What is still due on the candidate invoice, in the line's currency."""
    due = _due(c)
    if _same_currency(d, c):
        return due
    exp, due0 = int(c.get("expected_line_minor") or 0), int(c.get("amount_due_minor") or due)
    return exp if due == due0 or due0 == 0 else int(round(exp * due / due0))


def _same_currency(d: dict[str, Any], c: dict[str, Any]) -> bool:
    return (c.get("invoice_currency") or d["line_currency"]) == d["line_currency"]


def _allocation_row(d: dict[str, Any], c: dict[str, Any], applied: int, share: int) -> dict[str, Any]:
    return {"invoice_id": c["invoice_id"], "invoice_number": c.get("invoice_number"),
            "contact_name": c.get("contact_name"), "applied_minor": applied,
            "currency": c.get("invoice_currency") or d["line_currency"], "line_share_minor": share}


def _in_full(d: dict[str, Any], c: dict[str, Any], diff: int) -> tuple[dict[str, Any], int]:
    """The line settles the invoice in full: the difference is a write-off, or in another currency realised FX."""
    line = int(d["line_amount_minor"])
    if not _same_currency(d, c):
        return _allocation_row(d, c, _due(c), line), 0
    return _allocation_row(d, c, _due(c), line - diff), diff


def _allocation(d: dict[str, Any], c: dict[str, Any], policy: CashPolicy) -> tuple[dict[str, Any], int]:
    """What a person's acceptance means: the allocation and the write-off (line currency).

    Within the policy's tolerances the invoice is settled in full; a line paying less is a part payment (the
    person chose it); more than due beyond the tolerance cannot be accepted as it is.
    """
    line, expected = int(d["line_amount_minor"]), _expected(d, c)
    a = assess_amount(line, expected, _same_currency(d, c), policy)
    if a.kind in ("exact", "writeoff", "fx"):
        return _in_full(d, c, a.diff_minor)
    if a.kind == "partial":
        due = _due(c)
        return _allocation_row(d, c, due if expected == 0 else int(round(due * line / expected)), line), 0
    raise ReviewError(f"the line pays {_amount(line, d['line_currency'])} against {_amount(expected, d['line_currency'])}"
                      " due: more than due and above the write-off tolerance; split it or refund the difference in "
                      "the accounting system")


def _accept(log: ml.MatchingLog, d: dict[str, Any], c: dict[str, Any], alloc: dict[str, Any], writeoff: int, *,
            actor: str, role: str, policy: CashPolicy, comment: str | None, action: str,
            writeoff_account: str | None = None) -> None:
    decision_id = d["decision_id"]
    log.replace_allocations(decision_id, [alloc])
    log.set_status(decision_id, ml.TO_SETTLE, actor=actor, role=role, action=action, text=comment,
                   detail={"invoice_id": alloc["invoice_id"], "invoice_number": alloc["invoice_number"],
                           "applied_minor": alloc["applied_minor"], "writeoff_minor": writeoff},
                   writeoff_minor=writeoff,
                   writeoff_account=(writeoff_account or policy.writeoff_account) if writeoff else None,
                   account=d["account"] or policy.bank_account)
    contact_id = c.get("contact_id")
    if contact_id and d["payer_name"] and (c.get("name_similarity") or 0) < 0.999:
        log.add_alias(d["entity"], d["payer_name"], contact_id, source=f"decision {decision_id}", actor=actor)


def accept(log: ml.MatchingLog, decision_id: int, *, actor: str, role: str, policy: CashPolicy,
           invoice_id: str | None = None, comment: str | None = None) -> dict[str, Any]:
    """A person accepts the proposal, or the candidate ``invoice_id``; a payer that is not the contact is learned."""
    d = _open(log, decision_id)
    c = _candidate(d, invoice_id)
    alloc, writeoff = _allocation(d, c, policy)
    _accept(log, d, c, alloc, writeoff, actor=actor, role=role, policy=policy, comment=comment, action="accepted")
    return log.decision(decision_id) or d


def reject(log: ml.MatchingLog, decision_id: int, *, actor: str, role: str, comment: str | None = None) -> None:
    d = _open(log, decision_id)
    proposed = {a["invoice_id"] for a in d["allocations"]} | {c["invoice_id"] for c in d["candidates"][:1]
                                                              if c.get("invoice_id")}
    for inv in proposed:
        log.reject_pair(d["entity"], d["line_id"], inv, actor=actor)
    log.set_status(decision_id, ml.REJECTED, actor=actor, role=role, action="rejected", text=comment,
                   detail={"rejected_invoices": sorted(proposed)})


def comment(log: ml.MatchingLog, decision_id: int, *, actor: str, role: str, text: str) -> None:
    if not text.strip():
        raise ReviewError("an empty comment says nothing")
    if log.decision(decision_id) is None:
        raise ReviewError(f"no decision {decision_id}")
    log.event(decision_id, actor=actor, role=role, action="comment", text=text.strip())


def bulk(log: ml.MatchingLog, ids: Iterable[int], action: str, *, actor: str, role: str, policy: CashPolicy,
         comment_text: str | None = None, settler: Settler | None = None) -> dict[str, Any]:
    done, errors = [], {}
    for i in ids:
        try:
            if action == "accept":
                accept(log, i, actor=actor, role=role, policy=policy, comment=comment_text)
            elif action == "reject":
                reject(log, i, actor=actor, role=role, comment=comment_text)
            else:
                raise ReviewError(f"unknown action {action!r}")
            done.append(i)
        except ReviewError as e:
            errors[i] = str(e)
    settled = settler(done, actor, role) if settler and action == "accept" and done else None
    return {"done": done, "errors": errors, "settlement": settled}


def create_template(log: ml.MatchingLog, name: str, kind: str, params: dict[str, Any], *, actor: str) -> int:
    if kind not in TEMPLATE_KINDS:
        raise ReviewError(f"template kind must be one of {TEMPLATE_KINDS}")
    if kind == "payer_alias":
        payer, contact = str(params.get("payer_contains") or "").strip(), str(params.get("contact_id") or "").strip()
        if not (payer and contact):
            raise ReviewError("a payer_alias template needs payer_contains (text of the bank's payer name) and "
                              "contact_id (the accounting system's contact id)")
        params = {"payer_contains": payer, "contact_id": contact}
    else:
        params = {"max_amount": str(template_amount(params.get("max_amount"))),
                  "account": str(params.get("account") or "").strip() or None}
    return log.add_template(name, kind, params, actor=actor)


def template_amount(value: Any) -> Decimal:
    """A write-off template's limit: a plain amount such as ``5.00`` (at most two decimals, below 1,000,000)."""
    text = str(value if value is not None else "").strip()
    if not _PLAIN_AMOUNT.fullmatch(text):
        raise ReviewError(f"max_amount must be a plain amount such as 5.00 (digits, at most two decimals), not {text!r}")
    amount = Decimal(text)
    if amount >= MAX_TEMPLATE_AMOUNT:
        raise ReviewError(f"max_amount {text} is not a small difference: keep it below {MAX_TEMPLATE_AMOUNT:,}")
    return amount


def _template_limit(t: dict[str, Any], ccy: str) -> int:
    """The template's limit in the line currency's minor units (templates of earlier versions kept max_minor)."""
    p = t["params"]
    return to_minor(Decimal(p["max_amount"]), ccy) if "max_amount" in p else int(p["max_minor"])


def _pick_for_alias(d: dict[str, Any], contact_id: str, policy: CashPolicy) -> dict[str, Any]:
    """The one candidate invoice of the contact that the line pays in full (within the policy's tolerances)."""
    ccy, line = d["line_currency"], int(d["line_amount_minor"])
    theirs = [c for c in _pool(d) if c.get("contact_id") == contact_id]
    if not theirs:
        raise ReviewError(f"no candidate invoice of contact {contact_id}")
    fits = [c for c in theirs
            if assess_amount(line, _expected(d, c), _same_currency(d, c), policy).kind in ("exact", "writeoff", "fx")]
    if len(fits) > 1:
        raise ReviewError(f"{len(fits)} invoices of contact {contact_id} fit the amount "
                          f"({', '.join(str(c.get('invoice_number') or c['invoice_id']) for c in fits)}): "
                          "a person picks the one it pays")
    if not fits:
        if len(theirs) > 1:
            raise ReviewError(f"none of the {len(theirs)} candidate invoices of contact {contact_id} is due "
                              f"{_amount(line, ccy)}: a part payment or a combination is a person's call")
        c = theirs[0]
        what = "less" if line < _expected(d, c) else "more"
        raise ReviewError(f"pays {_amount(line, ccy)}, {what} than the {_amount(_expected(d, c), ccy)} due on "
                          f"{c.get('invoice_number') or c['invoice_id']}: a part payment or an over-payment is a "
                          "person's call")
    return fits[0]


def _pick_for_writeoff(d: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    """The proposed invoice, when its difference is within the template's limit and no other candidate fits too."""
    ccy, line = d["line_currency"], int(d["line_amount_minor"])
    if not d["allocations"]:
        raise ReviewError("proposes no invoice: a person picks one")
    if len(d["allocations"]) > 1:
        raise ReviewError(f"proposes {len(d['allocations'])} invoices together: a person allocates the line")
    limit = _template_limit(t, ccy)
    proposed = _from_allocation(d, d["allocations"][0])
    diff = line - _expected(d, proposed)
    if abs(diff) > limit:
        what = "short" if diff < 0 else "over"
        raise ReviewError(f"pays {_amount(line, ccy)} against {_amount(_expected(d, proposed), ccy)} due: "
                          f"{_amount(abs(diff), ccy)} {what}, above the template's {_amount(limit, ccy)} limit "
                          "(never settled as a part payment by a template)")
    fits = [c for c in _pool(d) if abs(line - _expected(d, c)) <= limit]
    if len(fits) > 1:
        raise ReviewError(f"{len(fits)} candidate invoices fit within {_amount(limit, ccy)} "
                          f"({', '.join(str(c.get('invoice_number') or c['invoice_id']) for c in fits)}): "
                          "a person picks the one it pays")
    return proposed


def apply_template(log: ml.MatchingLog, template_id: int, accounts: Iterable[str], *, actor: str, role: str,
                   policy_for: Callable[[str], CashPolicy],
                   settler_for: Callable[[str], Settler | None] | None = None) -> dict[str, Any]:
    """Apply a template to the open decisions of the given bank accounts; returns what it accepted and skipped.

    ``payer_alias``: decisions whose payer name contains the text; the payer name becomes an alias of the
    contact (later matching runs use it) and the decision is accepted when exactly one candidate invoice of
    the contact is paid in full by the line (within the policy's tolerances). ``writeoff_difference``: the
    proposed invoice is accepted when the line's difference to it is within the template's limit (written off)
    and no other candidate fits as well. Anything else — a shortfall beyond the limit, two invoices that fit,
    a combination — is left open for a person, with the reason in ``skipped``.
    """
    t = log.template(template_id)
    if t is None:
        raise ReviewError(f"no template {template_id}")
    accounts = [a for a in accounts if a]
    if not accounts:
        raise ReviewError("choose at least one bank account to apply the template across")
    p = t["params"]
    accepted: dict[str, list[int]] = {}
    skipped: dict[int, str] = {}
    note = f"template {t['name']!r} ({t['kind']})"
    for acct in accounts:
        for d in log.decisions(statuses=[ml.OPEN], account=acct, limit=100_000):
            policy = policy_for(d["entity"])
            writeoff_account = None
            try:
                if t["kind"] == "payer_alias":
                    if p["payer_contains"].lower() not in (d["payer_name"] or "").lower():
                        continue
                    log.add_alias(d["entity"], d["payer_name"], p["contact_id"], source=f"template {template_id}",
                                  actor=actor)
                    c = _pick_for_alias(d, p["contact_id"], policy)
                    alloc, writeoff = _in_full(d, c, int(d["line_amount_minor"]) - _expected(d, c))
                else:
                    c = _pick_for_writeoff(d, t)
                    alloc, writeoff = _in_full(d, c, int(d["line_amount_minor"]) - _expected(d, c))
                    writeoff_account = p.get("account")
                _accept(log, d, c, alloc, writeoff, actor=actor, role=role, policy=policy, comment=note,
                        action="rule_applied", writeoff_account=writeoff_account)
                accepted.setdefault(d["entity"], []).append(d["decision_id"])
            except ReviewError as e:
                skipped[d["decision_id"]] = str(e)
    settlement: dict[str, int] = {}
    for entity, ids in accepted.items():
        settler = settler_for(entity) if settler_for else None
        for k, v in (settler(ids, actor, role) if settler else {}).items():
            settlement[k] = settlement.get(k, 0) + int(v)
    return {"accepted": [i for ids in accepted.values() for i in ids], "skipped": skipped,
            "settlement": settlement or None}
