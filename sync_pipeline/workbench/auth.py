"""Workbench sign-in: the project's one identity model (``store.identity``), seen through the workbench.

Users, roles and passwords live in the operational store (argon2 hashes); an admin manages them with
``sync-pipeline users add NAME --role accountant --password-stdin``. What each role may do in the
workbench is the ``workbench.*`` rows of the access table (``sync_pipeline/domain/access.py``):

| action            | roles                                   |
|-------------------|-----------------------------------------|
| view, comment     | every role but automation               |
| decide, apply a rule template | accountant, admin           |
| create a rule template | admin                              |
"""

from __future__ import annotations

from dataclasses import dataclass

from sync_pipeline.domain.access import allowed
from sync_pipeline.store.identity import Identities
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
    """``authenticate(name, password) -> User | None`` and ``role_of(name)`` over the operational store."""

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
