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

from collections.abc import Callable, Iterable
from typing import Any

from sync_pipeline.domain.cash_matching import CashPolicy, assess_amount
from sync_pipeline.store import matching_log as ml

Settler = Callable[[list[int], str, str], dict[str, int]]
TEMPLATE_KINDS = ("payer_alias", "writeoff_difference")


class ReviewError(ValueError):
    """The action does not fit the decision (already final, amounts do not allow it...)."""


def _candidate(d: dict[str, Any], invoice_id: str | None) -> dict[str, Any]:
    cands = d["candidates"] or []
    if invoice_id:
        for c in cands:
            if c.get("invoice_id") == invoice_id:
                return c
        for a in d["allocations"]:
            if a["invoice_id"] == invoice_id:
                return {"invoice_id": a["invoice_id"], "invoice_number": a["invoice_number"],
                        "contact_name": a["contact_name"], "invoice_currency": a["currency"],
                        "remaining_due_minor": a["applied_minor"], "expected_line_minor": a["line_share_minor"]}
        raise ReviewError(f"invoice {invoice_id} is not among the candidates of decision {d['decision_id']}")
    if d["allocations"]:
        a = d["allocations"][0]
        match = next((c for c in cands if c.get("invoice_id") == a["invoice_id"]), {})
        return {"invoice_id": a["invoice_id"], "invoice_number": a["invoice_number"], "contact_name": a["contact_name"],
                "invoice_currency": a["currency"],
                "remaining_due_minor": match.get("remaining_due_minor", a["applied_minor"]),
                "expected_line_minor": match.get("expected_line_minor", a["line_share_minor"]),
                "contact_id": match.get("contact_id")}
    if cands:
        return cands[0]
    raise ReviewError(f"decision {d['decision_id']} proposes no invoice: choose one, or reject it")


def _allocation(d: dict[str, Any], c: dict[str, Any], policy: CashPolicy, *, max_writeoff_minor: int | None = None,
                ) -> tuple[dict[str, Any], int]:
    """The allocation a person's acceptance means, and the write-off (line currency)."""
    line = int(d["line_amount_minor"])
    due = int(c.get("remaining_due_minor") or c.get("amount_due_minor") or 0)
    expected = int(c.get("expected_line_minor") or due)
    same = (c.get("invoice_currency") or d["line_currency"]) == d["line_currency"]
    a = assess_amount(line, expected, same, policy)
    writeoff = 0
    if a.kind in ("exact", "fx"):
        applied, share = due, line
    elif a.kind == "partial" and (max_writeoff_minor is None or -a.diff_minor > max_writeoff_minor):
        applied = due if expected == 0 else int(round(due * line / expected))
        share = line
    elif max_writeoff_minor is not None and abs(a.diff_minor) <= max_writeoff_minor or a.kind == "writeoff":
        applied, share, writeoff = due, expected, a.diff_minor
    else:
        raise ReviewError(f"the line pays {line} against {expected} due (minor units): more than due and above the "
                          "write-off tolerance; split it or refund the difference in the accounting system")
    return ({"invoice_id": c["invoice_id"], "invoice_number": c.get("invoice_number"),
             "contact_name": c.get("contact_name"), "applied_minor": applied,
             "currency": c.get("invoice_currency") or d["line_currency"], "line_share_minor": share}, writeoff)


def accept(log: ml.MatchingLog, decision_id: int, *, actor: str, role: str, policy: CashPolicy,
           invoice_id: str | None = None, comment: str | None = None, max_writeoff_minor: int | None = None,
           writeoff_account: str | None = None, action: str = "accepted") -> dict[str, Any]:
    d = log.decision(decision_id)
    if d is None:
        raise ReviewError(f"no decision {decision_id}")
    if d["status"] != ml.OPEN:
        raise ReviewError(f"decision {decision_id} is {d['status']}, not open")
    c = _candidate(d, invoice_id)
    alloc, writeoff = _allocation(d, c, policy, max_writeoff_minor=max_writeoff_minor)
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
    return log.decision(decision_id) or d


def reject(log: ml.MatchingLog, decision_id: int, *, actor: str, role: str, comment: str | None = None) -> None:
    d = log.decision(decision_id)
    if d is None:
        raise ReviewError(f"no decision {decision_id}")
    if d["status"] != ml.OPEN:
        raise ReviewError(f"decision {decision_id} is {d['status']}, not open")
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
    if kind == "payer_alias" and not (params.get("payer_contains") and params.get("contact_id")):
        raise ReviewError("a payer_alias template needs payer_contains and contact_id")
    if kind == "writeoff_difference" and int(params.get("max_minor", -1)) < 0:
        raise ReviewError("a writeoff_difference template needs max_minor >= 0")
    return log.add_template(name, kind, params, actor=actor)


def apply_template(log: ml.MatchingLog, template_id: int, accounts: Iterable[str], *, actor: str, role: str,
                   policy: CashPolicy, settler: Settler | None = None) -> dict[str, Any]:
    """Apply a template to the open decisions of the given bank accounts; returns what it accepted."""
    t = log.template(template_id)
    if t is None:
        raise ReviewError(f"no template {template_id}")
    accounts = [a for a in accounts if a]
    if not accounts:
        raise ReviewError("choose at least one bank account to apply the template across")
    p = t["params"]
    accepted, skipped = [], {}
    for acct in accounts:
        for d in log.decisions(statuses=[ml.OPEN], account=acct, limit=100_000):
            try:
                if t["kind"] == "payer_alias":
                    if p["payer_contains"].lower() not in (d["payer_name"] or "").lower():
                        continue
                    cands = [c for c in d["candidates"] if c.get("contact_id") == p["contact_id"]]
                    if not cands and d["allocations"]:
                        cands = [_candidate(d, None)]
                    if len(cands) != 1:
                        skipped[d["decision_id"]] = f"{len(cands)} candidate invoices of that contact"
                        continue
                    log.add_alias(d["entity"], d["payer_name"], p["contact_id"], source=f"template {template_id}",
                                  actor=actor)
                    accept(log, d["decision_id"], actor=actor, role=role, policy=policy,
                           invoice_id=cands[0]["invoice_id"], action="rule_applied",
                           comment=f"template {t['name']!r} ({t['kind']})")
                else:
                    if not d["allocations"] and not d["candidates"]:
                        continue
                    accept(log, d["decision_id"], actor=actor, role=role, policy=policy, action="rule_applied",
                           max_writeoff_minor=int(p["max_minor"]), writeoff_account=p.get("account"),
                           comment=f"template {t['name']!r} ({t['kind']})")
                accepted.append(d["decision_id"])
            except ReviewError as e:
                skipped[d["decision_id"]] = str(e)
    settled = settler(accepted, actor, role) if settler and accepted else None
    return {"accepted": accepted, "skipped": skipped, "settlement": settled}
