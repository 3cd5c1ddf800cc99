"""The SLO file (``SYNC_PIPELINE_SLO``, default ``docs/slo.example.yaml``): objectives, teams, alert routes.

Validated with pydantic so a bad file names the key and the fix. What each objective measures and how it is
judged is ``sync_pipeline.services.slo``; how alerts travel is ``sync_pipeline.services.alert_routing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync_pipeline.contracts.config_file import load_yaml_model

#: objective → (unit, True when a higher value is worse)
OBJECTIVES: dict[str, tuple[str, bool]] = {
    "sync_success_rate": ("ratio", False),
    "change_to_draft_latency": ("seconds", True),
    "dead_letter_backlog": ("letters", True),
    "reconciliation_mismatches": ("partitions", True),
    "heartbeat_age": ("seconds", True),
}
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {  # (warn, breach)
    "sync_success_rate": (0.98, 0.95),
    "change_to_draft_latency": (20.0, 60.0),
    "dead_letter_backlog": (0.0, 10.0),
    "reconciliation_mismatches": (0.0, 2.0),
    "heartbeat_age": (1800.0, 3600.0),
}
CHANNELS = ("webhook", "slack", "email")
#: the event alerts of the other sensors (services.alert_routing.EventSignal), routed like the objectives
EVENT_KINDS = ("run_failure", "dead_letters", "reconciliation_mismatch", "heartbeat_missing", "audit_trail_tampered")


class SloConfigError(ValueError):
    pass


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warn: float = Field(ge=0)
    breach: float = Field(ge=0)
    enabled: bool = True


class Routes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warn: list[str] = Field(default_factory=lambda: ["webhook"])
    breach: list[str] = Field(default_factory=lambda: ["webhook"])


class Team(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: list[str] = Field(default_factory=list)  # recipients of the ``email`` channel
    routes: Routes = Field(default_factory=Routes)
    escalate_after_minutes: int | None = Field(None, ge=1)
    escalate_to: str | None = None  # the next team: gets a breach nobody acknowledged or cleared in time


class EventRule(BaseModel):
    """How one kind of event alert is routed: its severity (None: the alert's own — warning → warn, else breach),
    or ``enabled: false`` for the log only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Literal["warn", "breach"] | None = None
    enabled: bool = True


class EntitySlo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str | None = None
    objectives: dict[str, Threshold] = Field(default_factory=dict)


def _default_objectives() -> dict[str, Threshold]:
    return {n: Threshold(warn=w, breach=b) for n, (w, b) in DEFAULT_THRESHOLDS.items()}


class SloConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window_hours: int = Field(24, ge=1, le=24 * 31)
    objectives: dict[str, Threshold] = Field(default_factory=_default_objectives)
    teams: dict[str, Team] = Field(default_factory=lambda: {"operations": Team()})
    default_team: str = "operations"
    entities: dict[str, EntitySlo] = Field(default_factory=dict)
    events: dict[str, EventRule] = Field(default_factory=dict)
    events_clear_after_minutes: int = Field(60, ge=1)  # an event incident with no new occurrence for this long clears

    @model_validator(mode="after")
    def _consistent(self) -> SloConfig:
        bad_events = sorted(set(self.events) - set(EVENT_KINDS))
        if bad_events:
            raise ValueError(f"events: unknown kind(s) {bad_events}; use {list(EVENT_KINDS)}")
        names = [*self.objectives, *(o for e in self.entities.values() for o in e.objectives)]
        unknown = sorted({n for n in names if n not in OBJECTIVES})
        if unknown:
            raise ValueError(f"unknown objective(s) {unknown}; use {sorted(OBJECTIVES)}")
        for where, objs in [("objectives", self.objectives),
                            *((f"entities.{k}.objectives", e.objectives) for k, e in self.entities.items())]:
            for n, t in objs.items():
                worse_high = OBJECTIVES[n][1]
                if (t.warn > t.breach) if worse_high else (t.warn < t.breach):
                    rel = "at most" if worse_high else "at least"
                    raise ValueError(f"{where}.{n}: warn ({t.warn}) must be {rel} breach ({t.breach}); a warning "
                                     "comes before the breach")
                if n == "sync_success_rate" and max(t.warn, t.breach) > 1:
                    raise ValueError(f"{where}.{n}: a success rate is a ratio from 0 to 1 (0.95 = 95 %)")
        if self.default_team not in self.teams:
            raise ValueError(f"default_team {self.default_team!r} is not under teams ({sorted(self.teams)})")
        for k, e in self.entities.items():
            if e.team is not None and e.team not in self.teams:
                raise ValueError(f"entities.{k}.team {e.team!r} is not under teams ({sorted(self.teams)})")
        for name, team in self.teams.items():
            bad = sorted({c for c in [*team.routes.warn, *team.routes.breach] if c not in CHANNELS})
            if bad:
                raise ValueError(f"teams.{name}.routes: unknown channel(s) {bad}; use {list(CHANNELS)}")
            if "email" in [*team.routes.warn, *team.routes.breach] and not team.email:
                raise ValueError(f"teams.{name}: routes use email but the team lists no email recipients")
            if (team.escalate_to is None) != (team.escalate_after_minutes is None):
                raise ValueError(f"teams.{name}: set both escalate_after_minutes and escalate_to, or neither")
            if team.escalate_to is not None and team.escalate_to not in self.teams:
                raise ValueError(f"teams.{name}.escalate_to {team.escalate_to!r} is not under teams")
            if self.escalation_chain(name)[-1] == name and len(self.escalation_chain(name)) > 1:
                raise ValueError(f"teams.{name}: the escalation chain comes back to itself")
        return self

    def escalation_chain(self, team: str) -> list[str]:
        """The team and the teams a breach escalates to, in order (stops before a team repeats)."""
        chain = [team]
        while (nxt := self.teams[chain[-1]].escalate_to) is not None:
            chain.append(nxt)
            if nxt in chain[:-1]:
                break
        return chain

    def event_rule(self, kind: str) -> EventRule:
        return self.events.get(kind) or EventRule()

    def team_of(self, entity: str) -> str:
        e = self.entities.get(entity)
        return e.team if e is not None and e.team else self.default_team

    def thresholds(self, entity: str) -> dict[str, Threshold]:
        """The objectives that apply to the entity: the defaults, the file's, then the entity's overrides."""
        merged = {**_default_objectives(), **self.objectives}
        e = self.entities.get(entity)
        if e is not None:
            merged.update(e.objectives)
        return {n: t for n, t in merged.items() if t.enabled}


def load_slo_config(path: str | Path) -> SloConfig:
    return load_yaml_model(path, SloConfig, what="SLO file", error=SloConfigError,
                           missing="set SYNC_PIPELINE_SLO to your objectives "
                                   "(docs/slo.example.yaml is the documented default)")
