"""The matching log: every cash-matching decision, who or what made it, and what became of it.

One row per decision on a bank line (``cash_decisions``) with the rule or model, the confidence, the
amounts, the bank line and the candidates as they were seen, and the explanation (match weights per
comparison); one row per invoice it touches (``cash_allocations``); an append-only history of what
happened to it (``cash_decision_events``: decided, settled, accepted, rejected, commented, rule applied),
append-only, each row also written to the hash-chained audit trail (``store.audit``) in the same transaction.
Queryable by bank line and by invoice. Rule templates, payer aliases and rejected pairs feed back into
the next matching run.

Statuses: ``open`` (an exception or a proposal waiting for a person), ``to_settle`` (automatic, or
accepted by a person, not yet applied in the accounting system), ``settled``, ``reconciled`` (an
existing payment), ``rejected``, ``failed`` (the accounting system refused it; see the events),
``superseded`` (a later run decided the line again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from sync_pipeline.domain.cash_matching import name_key
from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore, metadata, now_iso
from sync_pipeline.store.protection import HASH_PREFIX

OPEN, TO_SETTLE, SETTLED, RECONCILED, REJECTED, FAILED, SUPERSEDED = (
    "open", "to_settle", "settled", "reconciled", "rejected", "failed", "superseded")
FINAL = (SETTLED, RECONCILED, REJECTED)
#: cash_decisions columns encrypted at rest (contracts.classification.PROTECTED)
SEALED = ("payer_name", "description", "explanation", "candidates")
ALIAS_HASH = "cash_payer"  # the purpose of payer aliases' keyed hashes (Protector.keyed_hash)

cash_decisions = sa.Table(
    "cash_decisions", metadata,
    sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False, index=True),
    sa.Column("line_id", sa.String(255), nullable=False, index=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("trace_id", sa.String(32)),  # the trace of the run that decided (domain.tracing)
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128)),
    sa.Column("confidence", sa.Float),  # a probability, not money
    sa.Column("line_date", sa.String(10)),
    sa.Column("line_amount_minor", sa.BigInteger, nullable=False),
    sa.Column("line_currency", sa.String(3), nullable=False),
    sa.Column("account", sa.String(64)),
    sa.Column("payer_name", sa.Text),  # encrypted (store.protection)
    sa.Column("description", sa.Text),
    sa.Column("writeoff_minor", sa.BigInteger, nullable=False, default=0),
    sa.Column("writeoff_account", sa.String(32)),
    sa.Column("amount_kind", sa.String(16)),
    sa.Column("payment_id", sa.String(64)),
    sa.Column("reason", sa.Text),
    sa.Column("explanation", sa.Text),  # JSON
    sa.Column("candidates", sa.Text),  # JSON
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("decided_by", sa.String(255), nullable=False),
    sa.Column("decided_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

cash_allocations = sa.Table(
    "cash_allocations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.Integer, sa.ForeignKey("cash_decisions.decision_id"), nullable=False, index=True),
    sa.Column("invoice_id", sa.String(64), nullable=False, index=True),
    sa.Column("invoice_number", sa.String(64), index=True),
    sa.Column("contact_name", sa.String(255)),
    sa.Column("applied_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("line_share_minor", sa.BigInteger, nullable=False),
    sa.Column("target_payment_id", sa.String(64)),
)

cash_decision_events = sa.Table(
    "cash_decision_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.Integer, sa.ForeignKey("cash_decisions.decision_id"), nullable=False, index=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32)),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("text", sa.Text),
    sa.Column("detail", sa.Text),  # JSON
)

cash_rule_templates = sa.Table(
    "cash_rule_templates", metadata,
    sa.Column("template_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # payer_alias | writeoff_difference
    sa.Column("params", sa.Text, nullable=False),  # JSON
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

cash_payer_aliases = sa.Table(
    "cash_payer_aliases", metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("payer_name", sa.String(255), primary_key=True),  # a keyed hash of the name's key (payer_key)
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

cash_rejected_pairs = sa.Table(
    "cash_rejected_pairs", metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("line_id", sa.String(255), primary_key=True),
    sa.Column("invoice_id", sa.String(64), primary_key=True),
    sa.Column("rejected_by", sa.String(255), nullable=False),
    sa.Column("rejected_at", sa.String(40), nullable=False),
)


def _trail_event(row_id: int, decision_id: int, entity: str | None, actor: str, role: str | None, action: str,
                 text: str | None, detail: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The audit-trail copy of a ``cash_decision_events`` row (``audit verify`` compares the two)."""
    return {"actor": actor, "action": f"cash_{action}", "entity": entity, "subject": f"decision {decision_id}",
            "detail": {**audit.cash_event_detail(row_id, decision_id, role, text, detail), **extra}}


def _j(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _unj(value: str | None) -> Any:
    return json.loads(value) if value else None


class MatchingLog:
    """The matching log on the operational store (SQLite file locally, PostgreSQL in production)."""

    def __init__(self, store: OperationalStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- writing decisions -----------------------------------------------------------------------------
    def final_lines(self, entity: str, line_ids: Iterable[str] | None = None) -> set[str]:
        """Lines already settled, reconciled or rejected: a rerun leaves them alone."""
        q = sa.select(cash_decisions.c.line_id).where(cash_decisions.c.entity == entity,
                                                      cash_decisions.c.status.in_((*FINAL, TO_SETTLE)))
        with self.engine.connect() as c:
            found = {r.line_id for r in c.execute(q)}
        return found if line_ids is None else found & set(line_ids)

    def record(self, entity: str, period: str, decisions: Iterable[dict[str, Any]], *, actor: str,
               run_id: str | None = None, model: str | None = None, trace_id: str | None = None) -> list[int]:
        """Write decisions (``decision`` dicts from ``services.cash_reconcile``); earlier open ones are superseded."""
        ids: list[int] = []
        trail: list[dict[str, Any]] = []
        ts = now_iso()
        with self.engine.begin() as c:
            rows = list(decisions)
            line_ids = [d["line_id"] for d in rows]
            for chunk in range(0, len(line_ids), 500):
                c.execute(cash_decisions.update().where(
                    cash_decisions.c.entity == entity, cash_decisions.c.line_id.in_(line_ids[chunk:chunk + 500]),
                    cash_decisions.c.status.in_((OPEN, FAILED))).values(status=SUPERSEDED, updated_at=ts))
            for d in rows:
                status = {"auto_settled": TO_SETTLE, "reconciled_payment": RECONCILED}.get(d["outcome"], OPEN)
                res = c.execute(cash_decisions.insert().values(
                    entity=entity, period=period, line_id=d["line_id"], run_id=run_id, trace_id=trace_id,
                    outcome=d["outcome"],
                    rule=d["rule"], model=model if d["rule"] == "fellegi_sunter" else None,
                    confidence=d["confidence"], line_date=d.get("line_date"),
                    line_amount_minor=d["line_amount_minor"], line_currency=d["line_currency"],
                    account=d.get("account"), payer_name=self._seal(d.get("payer_name"), "payer_name"),
                    description=self._seal(d.get("description"), "description"),
                    writeoff_minor=d.get("writeoff_minor", 0), writeoff_account=d.get("writeoff_account"),
                    amount_kind=d.get("amount_kind"), payment_id=d.get("payment_id"), reason=d.get("reason"),
                    explanation=self._seal(_j(d.get("explanation") or {}), "explanation"),
                    candidates=self._seal(_j(d.get("candidates") or []), "candidates"),
                    status=status, decided_by=actor, decided_at=ts, updated_at=ts))
                did = int(res.inserted_primary_key[0])
                ids.append(did)
                for a in d.get("allocations") or []:
                    c.execute(cash_allocations.insert().values(decision_id=did, **a))
                detail = {"outcome": d["outcome"], "rule": d["rule"], "confidence": d["confidence"]}
                ev = c.execute(cash_decision_events.insert().values(
                    decision_id=did, at=ts, actor=actor, role="system", action="decided",
                    text=d.get("reason"), detail=_j(detail)))
                trail.append(_trail_event(int(ev.inserted_primary_key[0]), did, entity, actor, "system", "decided",
                                          d.get("reason"), detail, line_id=d["line_id"], run_id=run_id))
            audit.append_many(c, trail)
        return ids

    def event(self, decision_id: int, *, actor: str, role: str | None, action: str, text: str | None = None,
              detail: dict[str, Any] | None = None, conn=None) -> None:
        """Append to a decision's history, and the same event to the audit trail (one transaction)."""
        if conn is None:
            with self.engine.begin() as c:
                self.event(decision_id, actor=actor, role=role, action=action, text=text, detail=detail, conn=c)
            return
        values = dict(decision_id=decision_id, at=now_iso(), actor=actor, role=role, action=action, text=text,
                      detail=_j(detail or {}))
        row_id = int(conn.execute(cash_decision_events.insert().values(**values)).inserted_primary_key[0])
        entity = conn.execute(sa.select(cash_decisions.c.entity).where(
            cash_decisions.c.decision_id == decision_id)).scalar()
        audit.append_many(conn, [_trail_event(row_id, decision_id, entity, actor, role, action, text, detail or {})])

    def set_status(self, decision_id: int, status: str, *, actor: str, role: str | None, action: str,
                   text: str | None = None, detail: dict[str, Any] | None = None, **fields: Any) -> None:
        with self.engine.begin() as c:
            c.execute(cash_decisions.update().where(cash_decisions.c.decision_id == decision_id).values(
                status=status, updated_at=now_iso(), **fields))
            self.event(decision_id, actor=actor, role=role, action=action, text=text, detail=detail, conn=c)

    def replace_allocations(self, decision_id: int, allocations: list[dict[str, Any]]) -> None:
        with self.engine.begin() as c:
            c.execute(cash_allocations.delete().where(cash_allocations.c.decision_id == decision_id))
            for a in allocations:
                c.execute(cash_allocations.insert().values(decision_id=decision_id, **a))

    def mark_allocation_settled(self, allocation_id: int, target_payment_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(cash_allocations.update().where(cash_allocations.c.id == allocation_id).values(
                target_payment_id=target_payment_id))

    # -- reading ---------------------------------------------------------------------------------------
    # bank payer names, statement descriptions, and the explanations and candidates that quote them are personal
    # data: encrypted at rest (store.protection)
    def _seal(self, value: str | None, column: str) -> str | None:
        return self.store.protection.encrypt_field(value, f"cash_decisions.{column}")

    def _decorate(self, c, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return rows
        for r in rows:
            for col in SEALED:
                if col in r:
                    r[col] = self.store.protection.decrypt_field(r[col], f"cash_decisions.{col}")
        ids = [r["decision_id"] for r in rows]
        allocs: dict[int, list[dict[str, Any]]] = {}
        for chunk in range(0, len(ids), 500):
            for a in c.execute(sa.select(cash_allocations).where(
                    cash_allocations.c.decision_id.in_(ids[chunk:chunk + 500])).order_by(cash_allocations.c.id)
                               ).mappings():
                allocs.setdefault(a["decision_id"], []).append(dict(a))
        for r in rows:
            r["explanation"] = _unj(r["explanation"]) or {}
            r["candidates"] = _unj(r["candidates"]) or []
            r["allocations"] = allocs.get(r["decision_id"], [])
        return rows

    def decision(self, decision_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(cash_decisions).where(cash_decisions.c.decision_id == decision_id)
                            ).mappings().first()
            return self._decorate(c, [dict(row)])[0] if row else None

    def decisions(self, *, entity: str | None = None, period: str | None = None, statuses: Iterable[str] | None = None,
                  outcomes: Iterable[str] | None = None, account: str | None = None, text: str | None = None,
                  min_amount_minor: int | None = None, max_amount_minor: int | None = None,
                  limit: int = 500) -> list[dict[str, Any]]:
        q = sa.select(cash_decisions).where(cash_decisions.c.status != SUPERSEDED)
        if entity:
            q = q.where(cash_decisions.c.entity == entity)
        if period:
            q = q.where(cash_decisions.c.period == period)
        if statuses:
            q = q.where(cash_decisions.c.status.in_(list(statuses)))
        if outcomes:
            q = q.where(cash_decisions.c.outcome.in_(list(outcomes)))
        if account:
            q = q.where(cash_decisions.c.account == account)
        if min_amount_minor is not None:
            q = q.where(cash_decisions.c.line_amount_minor >= min_amount_minor)
        if max_amount_minor is not None:
            q = q.where(cash_decisions.c.line_amount_minor <= max_amount_minor)
        q = q.order_by(cash_decisions.c.line_date, cash_decisions.c.decision_id)
        with self.engine.connect() as c:
            if not text:
                return self._decorate(c, [dict(r) for r in c.execute(q.limit(limit)).mappings()])
            # payer names and descriptions are encrypted: the text search runs over the decrypted rows
            needle, found = text.lower(), []
            for r in self._decorate(c, [dict(r) for r in c.execute(q).mappings()]):
                if any(needle in (r.get(k) or "").lower() for k in ("payer_name", "description", "reason")):
                    found.append(r)
                    if len(found) >= limit:
                        break
            return found

    def by_line(self, line_id: str) -> list[dict[str, Any]]:
        """Every decision ever taken on a bank line, oldest first (superseded ones included)."""
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(sa.select(cash_decisions).where(cash_decisions.c.line_id == line_id)
                                               .order_by(cash_decisions.c.decision_id)).mappings()]
            return self._decorate(c, rows)

    def by_invoice(self, invoice: str) -> list[dict[str, Any]]:
        """Every decision touching an invoice, by its id or its number."""
        with self.engine.connect() as c:
            ids = [r.decision_id for r in c.execute(sa.select(cash_allocations.c.decision_id).where(
                sa.or_(cash_allocations.c.invoice_id == invoice, cash_allocations.c.invoice_number == invoice)))]
            if not ids:
                return []
            rows = [dict(r) for r in c.execute(sa.select(cash_decisions).where(
                cash_decisions.c.decision_id.in_(sorted(set(ids)))).order_by(cash_decisions.c.decision_id)).mappings()]
            return self._decorate(c, rows)

    def history(self, decision_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(cash_decision_events).where(cash_decision_events.c.decision_id == decision_id)
                             .order_by(cash_decision_events.c.id)).mappings()
            return [{**dict(r), "detail": _unj(r["detail"])} for r in rows]

    def counts(self, entity: str | None = None) -> dict[str, int]:
        q = sa.select(cash_decisions.c.status, sa.func.count()).where(cash_decisions.c.status != SUPERSEDED)
        if entity:
            q = q.where(cash_decisions.c.entity == entity)
        with self.engine.connect() as c:
            return {s: int(n) for s, n in c.execute(q.group_by(cash_decisions.c.status))}

    # -- what feeds back into matching -------------------------------------------------------------------
    def payer_hash(self, payer_name: str) -> str:
        """What ``cash_payer_aliases.payer_name`` keeps for a payer: a keyed hash of the name's key (a payer may be
        a person; the alias is compared, never read back)."""
        return self.store.protection.keyed_hash(name_key(payer_name), ALIAS_HASH)

    def add_alias(self, entity: str, payer_name: str, contact_id: str, *, source: str, actor: str) -> None:
        """Remember that ``payer_name`` (as the bank shows it) pays for ``contact_id``: kept as a keyed hash."""
        key = self.payer_hash(payer_name)
        with self.engine.begin() as c:
            exists = c.execute(sa.select(cash_payer_aliases.c.entity).where(
                cash_payer_aliases.c.entity == entity, cash_payer_aliases.c.payer_name == key,
                cash_payer_aliases.c.contact_id == contact_id)).first()
            if not exists:
                c.execute(cash_payer_aliases.insert().values(entity=entity, payer_name=key, contact_id=contact_id,
                                                             source=source, created_by=actor, created_at=now_iso()))
                audit.append(c, actor=actor, action="cash_alias_added", entity=entity, subject=key,
                             detail={"contact_id": contact_id, "source": source})

    def aliases(self, entity: str) -> list[dict[str, Any]]:
        """The entity's aliases; ``payer_name`` is the keyed hash (:meth:`payer_hash`), also for an alias stored
        in clear by an earlier release."""
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(sa.select(cash_payer_aliases).where(
                cash_payer_aliases.c.entity == entity)).mappings()]
        for r in rows:
            if not str(r["payer_name"]).startswith(HASH_PREFIX):
                r["payer_name"] = self.payer_hash(r["payer_name"])
        return rows

    def alias_names(self, entity: str, payer_names: Iterable[str]) -> list[dict[str, str]]:
        """(payer_name, contact_id) for each of ``payer_names`` (clear, as this run's bank lines show them) that is a
        known alias: what the matcher's ``cash_alias_names`` needs, resolved in memory."""
        by_hash: dict[str, list[str]] = {}
        for a in self.aliases(entity):
            by_hash.setdefault(a["payer_name"], []).append(a["contact_id"])
        out = []
        for name in sorted({n for n in payer_names if n}):
            out += [{"payer_name": name, "contact_id": cid} for cid in by_hash.get(self.payer_hash(name), [])]
        return out

    def reject_pair(self, entity: str, line_id: str, invoice_id: str, *, actor: str) -> None:
        with self.engine.begin() as c:
            exists = c.execute(sa.select(cash_rejected_pairs.c.entity).where(
                cash_rejected_pairs.c.entity == entity, cash_rejected_pairs.c.line_id == line_id,
                cash_rejected_pairs.c.invoice_id == invoice_id)).first()
            if not exists:
                c.execute(cash_rejected_pairs.insert().values(entity=entity, line_id=line_id, invoice_id=invoice_id,
                                                              rejected_by=actor, rejected_at=now_iso()))
                audit.append(c, actor=actor, action="cash_pair_rejected", entity=entity, subject=line_id,
                             detail={"invoice_id": invoice_id})

    def rejected_pairs(self, entity: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(sa.select(cash_rejected_pairs.c.line_id, cash_rejected_pairs.c.invoice_id)
                                               .where(cash_rejected_pairs.c.entity == entity)).mappings()]

    def add_template(self, name: str, kind: str, params: dict[str, Any], *, actor: str) -> int:
        # a payer_alias template's text names a payer (maybe a person): encrypted, and only its keyed hash audited;
        # sealed before the transaction (a first use creates the keys in a transaction of its own)
        text, ctx = _j(params), "cash_rule_templates.params"
        sealed, digest = self.store.protection.encrypt_field(text, ctx), self.store.protection.keyed_hash(text, ctx)
        with self.engine.begin() as c:
            res = c.execute(cash_rule_templates.insert().values(name=name, kind=kind, params=sealed,
                                                                created_by=actor, created_at=now_iso()))
            tid = int(res.inserted_primary_key[0])
            audit.append(c, actor=actor, action="cash_template_created", subject=f"template {tid}",
                         detail={"name": name, "kind": kind, "params_hash": digest})
            return tid

    def templates(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(cash_rule_templates).order_by(cash_rule_templates.c.template_id)).mappings().all()
        unseal = self.store.protection.decrypt_field
        return [{**dict(r), "params": _unj(unseal(r["params"], "cash_rule_templates.params"))} for r in rows]

    def template(self, template_id: int) -> dict[str, Any] | None:
        return next((t for t in self.templates() if t["template_id"] == template_id), None)


def matching_log(store: OperationalStore) -> MatchingLog:
    return MatchingLog(store)
