"""Alert incidents: one row per incident key (``objective/entity``), the de-duplication and escalation state.

An incident opens when its objective first fails (warn or breach) and stays open until a measurement passes
again; while open, nothing is sent twice for the same severity. Escalation and acknowledgement are recorded
here, so every process that evaluates the SLOs (the sensor, a job, the CLI) shares them. Also the last
heartbeat facts the ``heartbeat_age`` objective reads (``slo_observations``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import sqlalchemy as sa

from sync_pipeline.store.operational import OperationalStore, metadata

alert_incidents = sa.Table(
    "alert_incidents",
    metadata,
    sa.Column("incident_key", sa.String(160), primary_key=True),
    sa.Column("objective", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # open | cleared
    sa.Column("severity", sa.String(16), nullable=False),  # warn | breach (the worst seen while open)
    sa.Column("value", sa.String(64)),
    sa.Column("summary", sa.Text),
    sa.Column("opened_at", sa.String(40), nullable=False),
    sa.Column("breach_at", sa.String(40)),  # when it first reached breach (escalation counts from here)
    sa.Column("notified_severity", sa.String(16)),  # the severity last delivered (None: not yet delivered)
    sa.Column("escalation_level", sa.Integer, nullable=False, default=0),  # 0: the owning team only
    sa.Column("escalated_at", sa.String(40)),
    sa.Column("acknowledged_by", sa.String(255)),
    sa.Column("acknowledged_at", sa.String(40)),
    sa.Column("silenced_until", sa.String(40)),
    sa.Column("cleared_at", sa.String(40)),
    sa.Column("occurrences", sa.Integer, nullable=False, default=1),  # how many times this key has opened
    sa.Column("updated_at", sa.String(40), nullable=False),
)

slo_observations = sa.Table(
    "slo_observations",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),  # heartbeat_first_sent | heartbeat_last_arrived
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("at", sa.String(40), nullable=False),
)


@dataclass
class Incident:
    incident_key: str
    objective: str
    entity: str
    team: str
    state: str
    severity: str
    opened_at: str
    value: str | None = None
    summary: str | None = None
    breach_at: str | None = None
    notified_severity: str | None = None
    escalation_level: int = 0
    escalated_at: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None
    silenced_until: str | None = None
    cleared_at: str | None = None
    occurrences: int = 1
    updated_at: str = ""

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and datetime.fromisoformat(self.silenced_until) > now


_COLUMNS = [f.name for f in fields(Incident)]


class Incidents:
    def __init__(self, store: OperationalStore) -> None:
        self.engine = store.engine

    def get(self, key: str) -> Incident | None:
        t = alert_incidents
        with self.engine.connect() as c:
            row = c.execute(sa.select(t).where(t.c.incident_key == key)).mappings().first()
        return Incident(**{k: row[k] for k in _COLUMNS}) if row else None

    def list(self, *, state: str | None = None) -> list[Incident]:
        t = alert_incidents
        q = sa.select(t).order_by(t.c.opened_at, t.c.incident_key)
        if state:
            q = q.where(t.c.state == state)
        with self.engine.connect() as c:
            return [Incident(**{k: r[k] for k in _COLUMNS}) for r in c.execute(q).mappings()]

    def save(self, inc: Incident) -> None:
        t = alert_incidents
        values = {k: getattr(inc, k) for k in _COLUMNS}
        with self.engine.begin() as c:
            done = c.execute(t.update().where(t.c.incident_key == inc.incident_key).values(**values)).rowcount
            if not done:
                c.execute(t.insert().values(**values))

    def note(self, name: str, entity: str, at: datetime, *, keep_first: bool = False) -> None:
        """Record a heartbeat fact (``keep_first``: only when not recorded yet)."""
        t = slo_observations
        with self.engine.begin() as c:
            row = c.execute(sa.select(t.c.at).where(t.c.name == name, t.c.entity == entity)).first()
            if row is None:
                c.execute(t.insert().values(name=name, entity=entity, at=at.isoformat()))
            elif not keep_first:
                c.execute(t.update().where(t.c.name == name, t.c.entity == entity).values(at=at.isoformat()))

    def noted(self, name: str, entity: str) -> datetime | None:
        t = slo_observations
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.c.at).where(t.c.name == name, t.c.entity == entity)).first()
        return datetime.fromisoformat(row[0]) if row else None


def acknowledge(store: OperationalStore, key: str, *, actor: str, now: datetime) -> Incident:
    """Someone is on it: the open incident stops escalating (it still clears by itself). In the audit trail."""
    from sync_pipeline.store import audit

    incidents = Incidents(store)
    inc = incidents.get(key)
    if inc is None or inc.state != "open":
        raise LookupError(f"no open incident {key!r}; see `sync-pipeline alerts list`")
    inc.acknowledged_by, inc.acknowledged_at, inc.updated_at = actor, now.isoformat(), now.isoformat()
    incidents.save(inc)
    audit.append(store.engine, actor=actor, action="alert_acknowledged", entity=inc.entity, subject=key)
    return inc


def silence(store: OperationalStore, key: str, *, minutes: int, actor: str, now: datetime) -> Incident:
    """No alert for this key (open or not yet open) until ``now + minutes``; 0 lifts a silence."""
    from datetime import timedelta

    from sync_pipeline.store import audit

    objective, _, entity = key.partition("/")
    if not entity:
        raise LookupError(f"incident key {key!r} is not objective/entity (e.g. dead_letter_backlog/acme-uk)")
    incidents = Incidents(store)
    inc = incidents.get(key) or Incident(incident_key=key, objective=objective, entity=entity, team="",
                                         state="cleared", severity="warn", opened_at=now.isoformat(),
                                         occurrences=0)
    inc.silenced_until = (now + timedelta(minutes=minutes)).isoformat() if minutes > 0 else None
    inc.updated_at = now.isoformat()
    incidents.save(inc)
    audit.append(store.engine, actor=actor, action="alert_silenced", entity=entity, subject=key,
                 detail={"minutes": minutes, "until": inc.silenced_until})
    return inc
