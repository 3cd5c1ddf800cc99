"""Workbench sign-in: the project's one identity model (``store.identity``), seen through the workbench.

Users, roles and passwords live in the operational store (argon2 hashes); an admin manages them with
``sync-pipeline users add NAME --role accountant --password-stdin``. What each role may do in the
workbench is the ``workbench.*`` rows of the access table (``sync_pipeline/domain/access.py``):

| action            | roles                                   |
|-------------------|-----------------------------------------|
| view, comment     | every role but automation               |
| decide, apply a rule template | accountant, admin           |
| create a rule template | admin                              |
| see invoice plans (plans)    | every role but automation        |
| approve or reject a plan (decide_plan) | approver               |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from sync_pipeline.domain.access import allowed
from sync_pipeline.store.identity import Identities, users
from sync_pipeline.store.operational import OperationalStore


@dataclass(frozen=True)
class User:
    name: str
    role: str  # the user's roles, comma-separated (what the pages and the decision log show)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r for r in self.role.split(",") if r)

    def may(self, permission: str) -> bool:
        return allowed(f"workbench.{permission}", self.roles)


class UserStore:
    """``authenticate(name, password) -> User | None``, ``role_of(name)`` and ``session_stamp(name)``."""

    def __init__(self, store: OperationalStore) -> None:
        self.identities = Identities(store)

    def authenticate(self, name: str, password: str) -> User | None:
        actor = self.identities.authenticate_password(name, password)
        if actor is None or actor.kind != "person":
            return None
        return User(actor.name, ",".join(sorted(actor.roles)))

    def role_of(self, name: str) -> str | None:
        """The user's roles (comma-separated), or None when unknown, disabled or without a role."""
        actor = self.identities.get(name)
        return ",".join(sorted(actor.roles)) if actor and actor.roles else None

    def session_stamp(self, name: str) -> str | None:
        """What a workbench session remembers of the user's credential: it changes with the password hash,
        and is None for an unknown or disabled user (so a new password or a disabled account ends sessions)."""
        with self.identities.engine.connect() as c:
            row = c.execute(sa.select(users.c.password_hash, users.c.disabled).where(users.c.name == name)).first()
        if row is None or row.disabled or not row.password_hash:
            return None
        return hashlib.sha256(row.password_hash.encode()).hexdigest()[:32]
