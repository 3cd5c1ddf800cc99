"""The plan (a dry run): the desired state against the current one, as document operations per invoice group,
with what is held back (open dead letters, paused posting) and the frame a person reviews."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date

import pandas as pd

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.domain import ids
from sync_pipeline.domain.invoice_plan import (
    DocOp,
    Group,
    GroupPlan,
    Limits,
    guard_breaches,
    invoices_written,
    plan_group,
    plan_totals,
)
from sync_pipeline.domain.money import from_minor
from sync_pipeline.domain.periods import Period, today_in
from sync_pipeline.services.posting.desired import desired_groups
from sync_pipeline.services.posting.state import PartitionState, load_state
from sync_pipeline.store.controls import Controls, PostingControls
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.operational import OperationalStore


@dataclass
class Plan:
    entity: EntityConfig
    period: Period
    groups: dict[str, Group]
    state: PartitionState
    plans: list[GroupPlan]
    controls: Controls
    new_status: str
    invoice_date: date
    credit_date: date
    held: dict[str, str] = field(default_factory=dict)  # document key → why it is held back
    held_letters: dict[str, int] = field(default_factory=dict)  # document key → open dead letter id

    @property
    def limits(self) -> Limits:
        return Limits(self.controls.max_invoices, dict(self.controls.max_total_minor))

    @property
    def breaches(self) -> list[str]:
        problems = guard_breaches(self.plans, self.limits)
        if self.state.duplicates:
            problems.append(f"{len(self.state.duplicates)} duplicate document(s) found in the accounting system: "
                            + ", ".join(f"{d['reference']} ({d['number']})" for d in self.state.duplicates[:5])
                            + " — void the extra ones by hand, then re-run")
        return problems

    @property
    def ops(self) -> list[tuple[GroupPlan, DocOp]]:
        return [(p, o) for p in self.plans for o in p.ops]

    def totals(self) -> dict[str, dict[str, str]]:
        return {ccy: {k.removesuffix("_minor"): str(from_minor(v, ccy)) for k, v in t.items()}
                for ccy, t in plan_totals(self.plans).items()}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.plans:
            out[p.action] = out.get(p.action, 0) + 1
        return out

    @property
    def documents_written(self) -> int:
        return invoices_written(self.plans)


def op_content_hash(op: DocOp) -> str:
    """What a write says, without dates: the same write on another day is the same write."""
    parts = [op.op, op.key, op.reference, str(op.status), str(op.target_id), str(op.original_target_id),
             str(op.amount_minor), *[li.fingerprint for li in op.lines]]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _undrafted_group(entity: EntityConfig, period: Period, state: PartitionState, base_ref: str,
                     new_status: str) -> GroupPlan:
    """A group the accounting system holds but billing no longer drafts (everything in it is to be credited)."""
    docs = state.docs.get(base_ref, [])
    p = ids.parse_reference(base_ref)
    first = next((state.target_docs[d.key] for d in docs if d.kind == "invoice" and d.key in state.target_docs), None)
    gkey = ids.invoice_key(entity.key, str(p["client_id"]), period.key) if p else base_ref
    row = state.ledger.get(gkey)
    return plan_group(None, docs, new_status=new_status,
                      base_key=row["group_key"] if row and row.get("group_key") else gkey, base_reference=base_ref,
                      client_id=str(p["client_id"]) if p else "",
                      currency=str(first.currency) if first else entity.base_currency,
                      client_name=(first.contact_name or "") if first else "",
                      line_amount_types=(first.line_amount_types or "Exclusive") if first else "Exclusive")


def _hold(plan: Plan, store: OperationalStore) -> None:
    """Writes an open dead letter stands for, and every write while posting is paused, are held back, saying why."""
    letters = DeadLetters(store).held_keys(plan.entity.key, plan.period.key)
    for _, op in plan.ops:
        letter = letters.get((op.key, op_content_hash(op)))
        if letter is not None:
            plan.held[op.key] = f"dead letter #{letter} is open: fix the cause, then `sync-pipeline dlq replay {letter}`"
            plan.held_letters[op.key] = letter
    if not plan.controls.posting_enabled:
        e = plan.entity.key
        for _, op in plan.ops:
            plan.held.setdefault(op.key, f"posting is paused for {e} by {plan.controls.changed_by} "
                                         f"({plan.controls.reason}); `sync-pipeline posting resume --entity {e}`")


def build_plan(drafts: pd.DataFrame, *, entity: EntityConfig, period: Period, target: AccountingTarget,
               store: OperationalStore, today: date | None = None) -> Plan:
    """The dry run: what posting would write now, and what it would hold back."""
    groups = desired_groups(drafts)
    if not target.capabilities.line_tracking:  # the target keeps none: a line is compared without it
        for g in groups.values():
            g.lines[:] = [replace(li, tracking=()) for li in g.lines]
    state = load_state(target, store, entity.key, period.key, groups)
    today = today or today_in(entity.timezone)
    new_status = "AUTHORISED" if today > period.end else "DRAFT"  # the period closed in the entity's time zone
    plans = [plan_group(groups[base_ref], state.docs.get(base_ref, []), new_status=new_status) if base_ref in groups
             else _undrafted_group(entity, period, state, base_ref, new_status)
             for base_ref in sorted(set(groups) | set(state.docs))]
    plan = Plan(entity, period, groups, state, plans, PostingControls(store).get(entity.key), new_status,
                min(period.end, today), today)
    _hold(plan, store)
    return plan


PLAN_COLUMNS = ["entity", "period", "group_key", "base_reference", "client_id", "client_name", "currency", "action",
                "op", "doc_key", "doc_kind", "reference", "revision", "status_after", "line_count", "amount_minor",
                "delta_minor", "source_entry_ids", "original_reference", "held", "explanation"]


def plan_frame(plan: Plan) -> pd.DataFrame:
    """One row per planned write, and one per group left as it is: the plan a person reviews."""
    rows = []
    for p in plan.plans:
        base = {"entity": plan.entity.key, "period": plan.period.key, "group_key": p.group_key,
                "base_reference": p.base_reference, "client_id": p.client_id, "client_name": p.client_name,
                "currency": p.currency, "action": p.action, "explanation": p.explanation or None}
        if not p.ops:
            rows.append({**base, "op": None, "doc_key": None, "doc_kind": None, "reference": None, "revision": None,
                         "status_after": None, "line_count": 0, "amount_minor": 0, "delta_minor": 0,
                         "source_entry_ids": None, "original_reference": None, "held": None})
        for o in p.ops:
            rows.append({**base, "op": o.op, "doc_key": o.key, "doc_kind": o.kind, "reference": o.reference,
                         "revision": o.revision, "status_after": o.status, "line_count": len(o.lines),
                         "amount_minor": o.amount_minor, "delta_minor": o.delta_minor,
                         "source_entry_ids": ",".join(o.source_entry_ids) or None,
                         "original_reference": o.original_reference, "held": plan.held.get(o.key)})
    df = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    return df.astype({"revision": "Int64"}) if len(df) else df


def plan_drift(plan: Plan, reviewed: pd.DataFrame | None) -> str:
    """How the plan about to be applied differs from the one materialized for review ('' when it does not)."""
    if reviewed is None:
        return "no reviewed plan (invoice_plan not materialized for this partition)"

    def writes(df: pd.DataFrame) -> set[tuple[str, str, int]]:
        w = df[df["op"].notna()]
        return {(str(r.op), str(r.doc_key), int(r.amount_minor)) for r in w.itertuples()}

    now, then = writes(plan_frame(plan)), writes(reviewed)
    if now == then:
        return ""
    parts = []
    if now - then:
        parts.append("new: " + ", ".join(f"{o} {k} ({a})" for o, k, a in sorted(now - then)[:5]))
    if then - now:
        parts.append("no longer needed: " + ", ".join(f"{o} {k} ({a})" for o, k, a in sorted(then - now)[:5]))
    return "; ".join(parts)
