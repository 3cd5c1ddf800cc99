"""Who may do what: the roles, and the one table saying which roles may take each action.

Every entry point asks this table: the CLI (an action per command, ``posting.run``, ``dlq.replay`` …),
the workbench (``workbench.decide`` …) and Dagster-launched writes (``dagster.post``). An action that
is not in :data:`RULES` is refused (and fails the RBAC matrix test), so a new command cannot ship
without a rule. Roles follow the duties of segregation: whoever triggers a posting cannot approve it
(that is enforced where the plan is approved, not here: a person may hold several roles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES: dict[str, str] = {
    "viewer": "see plans, documents, statuses, exceptions and dead-letter summaries; comment in the workbench",
    "billing_clerk": "flag what is billable: import time exports, propose mapping versions (billable flags)",
    "accountant": "cash-matching decisions, rule templates and sync-exception resolutions in the workbench",
    "operator": "trigger syncs, backfills and finance runs; post approved plans; pause/resume posting; "
                "replay or discard dead letters",
    "approver": "approve or reject invoice plans and mapping versions (never one they triggered)",
    "mapping_editor": "change the mapping (rates, tax codes, accounts, billable flags): propose mapping versions",
    "admin": "users, API tokens, posting limits, auto-approval policies, concurrency pools",
    "automation": "named schedules and sensors: trigger syncs and post approved plans",
    "privacy_officer": "legal holds, retention purges, a person's data export and erasure, archives",
}

#: Actions anyone may take without signing in: local tools that touch no operational data, and the
#: one-time bootstrap of the first admin (it refuses once any user exists).
PUBLIC = "public"

_VIEW = frozenset({"viewer", "billing_clerk", "accountant", "operator", "approver", "mapping_editor", "admin"})
_RUN = frozenset({"operator", "automation", "admin"})

#: action → the roles that may take it (or PUBLIC). One row per CLI command, workbench action and
#: Dagster-launched write.
RULES: dict[str, frozenset[str] | str] = {
    # local tools: no operational data
    "demo": PUBLIC,  # its own sandbox; it signs its run in as the `demo` automation
    "sandbox.up": PUBLIC, "sandbox.fault.add": PUBLIC, "sandbox.fault.list": PUBLIC,
    "sandbox.fault.clear": PUBLIC, "sandbox.webhook.add": PUBLIC, "sandbox.webhook.list": PUBLIC,
    "bench": PUBLIC, "contracts.list": PUBLIC, "contracts.check": PUBLIC, "contracts.snapshot": PUBLIC,
    "users.bootstrap": PUBLIC,
    # identity administration
    "users.whoami": _VIEW | {"automation"},
    "users.add": frozenset({"admin"}), "users.list": frozenset({"admin"}), "users.roles": frozenset({"admin"}),
    "users.disable": frozenset({"admin"}), "users.password": frozenset({"admin"}),
    "users.token.create": frozenset({"admin"}), "users.token.list": frozenset({"admin"}),
    "users.token.revoke": frozenset({"admin"}),
    # running the pipeline
    "sync": _RUN, "backfill": _RUN, "pools.apply": frozenset({"admin"}),
    "import.csv": frozenset({"billing_clerk", "operator", "admin"}),
    "hours.review": _VIEW, "hours.decide": frozenset({"approver", "admin"}),  # release a long day for billing
    "finance.run": _RUN, "finance.reallocate": frozenset({"operator", "admin"}),
    "finance.versions": _VIEW, "finance.reproduce": _VIEW,
    "webhooks.serve": frozenset({"operator", "admin"}),
    # posting
    "posting.status": _VIEW, "posting.plan": _VIEW,
    "posting.run": frozenset({"operator", "automation"}),
    "posting.pause": frozenset({"operator", "approver", "admin"}),  # anyone responsible may stop the money
    "posting.resume": frozenset({"operator", "admin"}),
    "posting.limits": frozenset({"admin"}),
    "posting.approve": frozenset({"approver"}), "posting.reject": frozenset({"approver"}),
    "posting.policy.show": _VIEW, "posting.policy.propose": frozenset({"admin"}),
    "posting.policy.approve": frozenset({"admin"}),
    # Dagster-launched writes, whoever launched the run (the plan's approval still decides what posts)
    "dagster.post": frozenset({"operator", "automation"}),  # posted_invoices
    "dagster.replay": frozenset({"operator", "automation"}),  # the replay_dead_letters job
    # the mapping: its money-moving fields are versioned; a change posts only once accepted
    "mapping.status": _VIEW, "mapping.diff": _VIEW,
    "mapping.propose": frozenset({"mapping_editor", "billing_clerk"}),
    "mapping.accept": frozenset({"approver"}),
    # dead letters
    "dlq.list": _VIEW, "dlq.show": frozenset({"operator", "approver", "admin"}),  # payloads: financial data
    "dlq.replay": frozenset({"operator"}), "dlq.discard": frozenset({"operator"}),
    # SLO incidents: acknowledging stops escalation, silencing stops alerts (both audited)
    "alerts.list": _VIEW, "alerts.ack": frozenset({"operator", "admin"}),
    "alerts.silence": frozenset({"operator", "admin"}),
    # the audit trail: verify reveals nothing but where it was tampered with; the log and exports show
    # who did what with which amounts
    "audit.verify": _VIEW | {"automation"},
    "audit.log": frozenset({"approver", "admin"}), "audit.export": frozenset({"approver", "admin"}),
    "audit.grant": frozenset({"admin"}),
    # encryption keys (docs/data-protection.md): status shows key ids and counts, never key material
    "keys.status": frozenset({"operator", "admin", "automation"}), "keys.generate": PUBLIC,
    "keys.rotate": frozenset({"admin"}), "keys.reencrypt": frozenset({"admin", "automation"}),
    # connecting an accounting system: its first refresh token (QuickBooks Online consent)
    "qbo.connect": frozenset({"admin"}),
    # workbench
    "workbench": frozenset({"operator", "admin"}),  # serve it
    "workbench.view": _VIEW, "workbench.comment": _VIEW,
    "workbench.decide": frozenset({"accountant", "admin"}),
    "workbench.apply_template": frozenset({"accountant", "admin"}),
    "workbench.create_template": frozenset({"admin"}),
    "workbench.health": _VIEW,  # the billing-health page: KPIs over time and open exceptions
    "workbench.plans": _VIEW,  # see the invoice plans awaiting approval, their documents and totals
    "workbench.decide_plan": frozenset({"approver"}),  # as posting.approve / posting.reject (never one's own)
    # sync-reconciliation exceptions: re-post, accept or explain a document that differs from the accounting system
    "workbench.resolve_sync": frozenset({"accountant", "operator", "admin"}),
    # data protection (docs/data-protection.md): holds, purges and a person's data are the privacy officer's;
    # archives are made by whoever closes periods, read by those who may see amounts
    "privacy.hold.set": frozenset({"privacy_officer", "admin"}),
    "privacy.hold.list": frozenset({"privacy_officer", "admin", "approver"}),
    "privacy.hold.release": frozenset({"privacy_officer"}),  # never the admin alone: the duty to keep is legal
    "privacy.purge": frozenset({"privacy_officer", "admin"}),
    "privacy.export": frozenset({"privacy_officer"}),  # everything held about a person
    "privacy.erase": frozenset({"privacy_officer"}),
    "dagster.purge": frozenset({"automation", "privacy_officer", "admin"}),  # the retention_purge schedule
    "archive.create": frozenset({"operator", "privacy_officer", "admin"}),
    "archive.verify": _VIEW | {"automation", "privacy_officer"},
    "archive.read": frozenset({"approver", "admin", "privacy_officer"}),  # amounts and ledger rows
    "archive.restore": frozenset({"privacy_officer", "admin"}),
    # one trail from a time entry to the bank (people, hours, amounts, who decided): those who act on it
    "trace": frozenset({"accountant", "operator", "approver", "admin"}),
}


#: Dagster-launched writes no anonymous launch may make (destructive, or posting with no decision of its own): the
#: run must carry a signed-in person's run ticket or come from a named schedule or sensor. A launch from the Dagster
#: UI or a UI backfill acts as ``dagster-ui`` (Dagster OSS does not know who pressed Launch). Posting in
#: ``sync_job`` (``dagster.post``) is not here: it writes only a plan a person approved (four eyes) or a policy two
#: admins approved, so a human decided what it writes whoever launched it.
SIGNED_LAUNCH_ONLY: dict[str, str] = {
    "dagster.purge": "run `sync-pipeline privacy purge` signed in as a privacy officer, or let the schedule "
                     "retention_purge_monthly run it",
    "dagster.replay": "run `sync-pipeline dlq replay` signed in as an operator, or launch the job from a schedule",
}
#: ``Actor.via`` of a run whose launcher is unknown (``Identities.run_actor``)
UNATTENDED = "unattended"


class AccessDenied(PermissionError):
    """The actor may not take the action (or nobody signed in)."""


@dataclass(frozen=True)
class Actor:
    """An authenticated identity: a person or a named automation (schedule, sensor, the demo)."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    kind: str = "person"  # person | automation
    via: str = "token"  # token | password | automation

    def may(self, action: str) -> bool:
        return allowed(action, self.roles)


def rule(action: str) -> frozenset[str] | str:
    try:
        return RULES[action]
    except KeyError:
        raise AccessDenied(f"no access rule for action {action!r}: add it to sync_pipeline/domain/access.py "
                           "RULES") from None


def is_public(action: str) -> bool:
    return rule(action) == PUBLIC


def allowed(action: str, roles: frozenset[str] | set[str]) -> bool:
    r = rule(action)
    return r == PUBLIC or bool(set(roles) & set(r))


def check(actor: Actor | None, action: str) -> Actor | None:
    """The actor, when it may take the action; raises :class:`AccessDenied` with what to do otherwise."""
    r = rule(action)
    if r == PUBLIC:
        return actor
    if actor is None:
        raise AccessDenied(f"{action} needs a signed-in user: set SYNC_PIPELINE_TOKEN to your API token (an admin "
                           "creates one with `sync-pipeline users token create NAME`)")
    if not actor.may(action):
        raise AccessDenied(f"{actor.name} (roles: {', '.join(sorted(actor.roles)) or 'none'}) may not {action}; "
                           f"it needs one of: {', '.join(sorted(r))}")
    return actor


def check_launch(actor: Actor, action: str) -> Actor:
    """:func:`check` for a Dagster-launched write, refusing the :data:`SIGNED_LAUNCH_ONLY` actions to an
    unattended launch (no signed-in person, no schedule or sensor) with what to do instead."""
    check(actor, action)
    hint = SIGNED_LAUNCH_ONLY.get(action)
    if hint is not None and actor.via == UNATTENDED:
        raise AccessDenied(f"{action} refused: this run was launched without a signed-in person (from the Dagster UI "
                           f"or a UI backfill, acting as {actor.name}) and not by a named schedule or sensor, and it "
                           f"is a write no person decided; {hint}")
    return actor
