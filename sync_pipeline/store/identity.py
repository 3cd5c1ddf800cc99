"""Identities in the operational store: users (people and named automations), their roles, API tokens.

- Passwords are argon2id hashes (argon2-cffi); an unknown name costs the same hash work as a known one.
- API tokens read ``spt_<id>_<secret>``: the id finds the row, the secret is kept only as a SHA-256
  digest (it is 256 random bits, so a slow hash adds nothing). A token may be scoped to some of its
  user's roles, expires, and can be revoked; it is shown once, when created.
- Named automations (a schedule, a sensor, the demo) are users of kind ``automation`` without a
  password; Dagster-launched runs act as them.

Every change is written to the audit log with the admin who made it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sync_pipeline.domain.access import ROLES, UNATTENDED, Actor
from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # person | automation
    sa.Column("password_hash", sa.Text),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("password_changed_at", sa.String(40)),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("granted_by", sa.String(128), nullable=False),
    sa.Column("granted_at", sa.String(40), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, index=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("scopes", sa.Text),  # JSON list of roles the token may use; null: all of the user's roles
    sa.Column("note", sa.Text),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40)),
    sa.Column("revoked_by", sa.String(128)),
    sa.Column("last_used_at", sa.String(40)),
)

run_tickets = sa.Table(
    "run_tickets",
    metadata,
    sa.Column("ticket", sa.String(64), primary_key=True),  # SHA-256 of the ticket put in the run's tags
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
)

TOKEN_PREFIX = "spt_"
TICKET_TAG = "sync_pipeline/ticket"
UI_LAUNCH = "dagster-ui"  # who a run acts for when neither a ticket nor a schedule or sensor says
TICKET_HOURS = 24
DEFAULT_TOKEN_DAYS = 90
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown names, so they cost the same hash work as known ones. Made on first
    use, not at import: every process importing the code location (each Dagster step, each CLI call) would
    otherwise pay one argon2 hash (about 1–2 s on two busy cores) before doing anything."""
    return _hasher.hash(secrets.token_hex(16))


class IdentityError(ValueError):
    """A request about identities that cannot be met (unknown user, bad role, second bootstrap …)."""


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    name: str
    scopes: list[str] | None
    note: str | None
    created_by: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    last_used_at: str | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, _, secret = token[len(TOKEN_PREFIX):].partition("_")
    return (token_id, secret) if token_id and secret else None


class Identities:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- users --------------------------------------------------------------------------------
    def count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def get(self, name: str) -> Actor | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(users).where(users.c.name == name)).mappings().first()
            if row is None or row["disabled"]:
                return None
            roles = frozenset(r.role for r in c.execute(sa.select(user_roles.c.role).where(user_roles.c.name == name)))
        return Actor(name, roles, row["kind"])

    def all(self) -> list[dict]:
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(sa.select(users).order_by(users.c.name)).mappings()]
            roles: dict[str, list[str]] = {}
            for r in c.execute(sa.select(user_roles).order_by(user_roles.c.role)):
                roles.setdefault(r.name, []).append(r.role)
        return [{"name": r["name"], "kind": r["kind"], "roles": roles.get(r["name"], []),
                 "disabled": bool(r["disabled"]), "password": r["password_hash"] is not None,
                 "created_by": r["created_by"], "created_at": r["created_at"]} for r in rows]

    def add(self, name: str, roles: list[str] | set[str], *, by: str, kind: str = "person",
            password: str | None = None) -> Actor:
        """Create (or re-enable) a user with these roles; a password only for people."""
        self._check_roles(roles)
        if not name or len(name) > 128 or any(ch.isspace() for ch in name):
            raise IdentityError(f"user name {name!r}: use 1–128 characters without spaces")
        if kind not in ("person", "automation"):
            raise IdentityError(f"kind {kind!r}: person or automation")
        if password is not None and kind == "automation":
            raise IdentityError("an automation signs in with a token, not a password")
        ts = now_iso()
        with self.engine.begin() as c:
            exists = c.execute(sa.select(users.c.name).where(users.c.name == name)).first()
            values = {"kind": kind, "disabled": False}
            if password is not None:
                values.update(password_hash=_hash(password), password_changed_at=ts)
            if exists:
                c.execute(users.update().where(users.c.name == name).values(**values))
            else:
                c.execute(users.insert().values(name=name, created_by=by, created_at=ts, **values))
            self._set_roles(c, name, roles, by)
        self.store.audit(by, "user_added", subject=name, detail={"roles": sorted(roles), "kind": kind})
        return self.get(name)  # type: ignore[return-value]

    def ensure_automation(self, name: str, roles: tuple[str, ...] = ("automation",), *, by: str = "system") -> Actor:
        """A named automation (schedule, sensor): registered on first use with the automation role only."""
        found = self.get(name)
        if found is not None:
            return found
        with self.engine.connect() as c:
            if c.execute(sa.select(users.c.name).where(users.c.name == name)).first():
                raise IdentityError(f"{name} is disabled")
        try:
            return self.add(name, list(roles), by=by, kind="automation")
        except sa.exc.IntegrityError:  # registered at the same moment by a concurrent run
            return self.get(name)  # type: ignore[return-value]

    def set_roles(self, name: str, roles: list[str], *, by: str) -> Actor:
        self._check_roles(roles)
        with self.engine.begin() as c:
            if not c.execute(sa.select(users.c.name).where(users.c.name == name)).first():
                raise IdentityError(f"no user {name}")
            self._set_roles(c, name, roles, by)
        self.store.audit(by, "user_roles_set", subject=name, detail={"roles": sorted(roles)})
        return self.get(name)  # type: ignore[return-value]

    def set_password(self, name: str, password: str, *, by: str) -> None:
        with self.engine.begin() as c:
            n = c.execute(users.update().where(users.c.name == name, users.c.kind == "person").values(
                password_hash=_hash(password), password_changed_at=now_iso())).rowcount
        if not n:
            raise IdentityError(f"no person named {name}")
        self.store.audit(by, "password_set", subject=name)

    def disable(self, name: str, *, by: str) -> None:
        """The user can no longer sign in; every token of theirs is revoked."""
        ts = now_iso()
        with self.engine.begin() as c:
            if not c.execute(users.update().where(users.c.name == name).values(disabled=True)).rowcount:
                raise IdentityError(f"no user {name}")
            c.execute(api_tokens.update().where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                      .values(revoked_at=ts, revoked_by=by))
        self.store.audit(by, "user_disabled", subject=name)

    def authenticate_password(self, name: str, password: str) -> Actor | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(users.c.password_hash, users.c.disabled).where(users.c.name == name)).first()
        dummy = _dummy_hash()
        stored = row.password_hash if row is not None and row.password_hash else dummy
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or stored is dummy or row.disabled:
            return None
        actor = self.get(name)
        return Actor(actor.name, actor.roles, actor.kind, via="password") if actor else None

    def bootstrap(self, name: str, password: str | None = None) -> tuple[Actor, str]:
        """The first admin, only while the store has no user at all; returns it and an API token."""
        if self.count():
            raise IdentityError("users exist already: an admin adds users (`sync-pipeline users add`)")
        actor = self.add(name, ["admin"], by="bootstrap", password=password)
        return actor, self.issue_token(name, by="bootstrap", days=30, note="bootstrap")

    # -- tokens -------------------------------------------------------------------------------
    def issue_token(self, name: str, *, by: str, scopes: list[str] | None = None, days: int = DEFAULT_TOKEN_DAYS,
                    note: str | None = None) -> str:
        user = self.get(name)
        if user is None:
            raise IdentityError(f"no active user {name}")
        if scopes:
            self._check_roles(scopes)
            extra = set(scopes) - user.roles
            if extra:
                raise IdentityError(f"{name} does not hold {', '.join(sorted(extra))}: a token carries at most "
                                    "its user's roles")
        if days <= 0 or days > 366:
            raise IdentityError("a token lives 1–366 days")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        created = datetime.now(UTC)
        with self.engine.begin() as c:
            c.execute(api_tokens.insert().values(
                token_id=token_id, name=name, secret_sha256=_digest(secret),
                scopes=json.dumps(sorted(scopes)) if scopes else None, note=note, created_by=by,
                created_at=created.isoformat(timespec="seconds"),
                expires_at=(created + timedelta(days=days)).isoformat(timespec="seconds")))
        self.store.audit(by, "token_issued", subject=name,
                         detail={"token_id": token_id, "scopes": scopes, "days": days, "note": note})
        return f"{TOKEN_PREFIX}{token_id}_{secret}"

    def authenticate_token(self, token: str) -> Actor | None:
        """The token's user with the token's roles, or None (unknown, wrong, expired, revoked, disabled)."""
        parsed = _parse_token(token.strip())
        if parsed is None:
            return None
        token_id, secret = parsed
        with self.engine.connect() as c:
            row = c.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).mappings().first()
        if row is None or not hmac.compare_digest(row["secret_sha256"], _digest(secret)):
            return None
        if row["revoked_at"] or datetime.fromisoformat(row["expires_at"]) <= datetime.now(UTC):
            return None
        user = self.get(row["name"])
        if user is None:
            return None
        roles = user.roles & set(json.loads(row["scopes"])) if row["scopes"] else user.roles
        with self.engine.begin() as c:
            c.execute(api_tokens.update().where(api_tokens.c.token_id == token_id).values(last_used_at=now_iso()))
        return Actor(user.name, frozenset(roles), user.kind, via="token")

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        q = sa.select(api_tokens).order_by(api_tokens.c.created_at)
        if name:
            q = q.where(api_tokens.c.name == name)
        with self.engine.connect() as c:
            rows = c.execute(q).mappings().all()
        return [TokenInfo(r["token_id"], r["name"], json.loads(r["scopes"]) if r["scopes"] else None, r["note"],
                          r["created_by"], r["created_at"], r["expires_at"], r["revoked_at"], r["last_used_at"])
                for r in rows]

    def revoke_token(self, token_id: str, *, by: str) -> None:
        with self.engine.begin() as c:
            n = c.execute(api_tokens.update().where(api_tokens.c.token_id == token_id,
                                                    api_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now_iso(), revoked_by=by)).rowcount
        if not n:
            raise IdentityError(f"no live token {token_id}")
        self.store.audit(by, "token_revoked", subject=token_id)

    # -- Dagster runs -------------------------------------------------------------------------
    def run_ticket(self, name: str, hours: int = TICKET_HOURS) -> str:
        """A ticket a signed-in user's run carries in its tags (``sync_pipeline/ticket``): the run's assets
        know who launched it. Only its digest is stored; it lapses after ``hours``."""
        if self.get(name) is None:
            raise IdentityError(f"no active user {name}")
        ticket = secrets.token_urlsafe(24)
        created = datetime.now(UTC)
        with self.engine.begin() as c:
            c.execute(run_tickets.insert().values(
                ticket=_digest(ticket), name=name, created_at=created.isoformat(timespec="seconds"),
                expires_at=(created + timedelta(hours=hours)).isoformat(timespec="seconds")))
        return ticket

    def run_actor(self, tags: dict[str, str]) -> Actor:
        """Who a Dagster run acts for: the user of a valid ticket, else the schedule or sensor that launched it
        (a named automation), else ``dagster-ui`` — a run launched in the UI, whose user Dagster OSS does not
        know (run the UI behind an authenticating proxy or read-only: docs/controls.md); that one's ``via`` is
        ``unattended``, and ``domain.access.check_launch`` refuses it the destructive writes."""
        ticket = tags.get(TICKET_TAG)
        if ticket:
            with self.engine.connect() as c:
                row = c.execute(sa.select(run_tickets).where(run_tickets.c.ticket == _digest(ticket))).first()
            if row is not None and datetime.fromisoformat(row.expires_at) > datetime.now(UTC):
                found = self.get(row.name)
                if found is not None:
                    return Actor(found.name, found.roles, found.kind, via="ticket")
        for tag, kind in (("dagster/schedule_name", "schedule"), ("dagster/sensor_name", "sensor")):
            if tags.get(tag):
                auto = self.ensure_automation(f"{kind}:{tags[tag]}")
                return Actor(auto.name, auto.roles, auto.kind, via=kind)
        ui = self.ensure_automation(UI_LAUNCH)
        return Actor(ui.name, ui.roles, ui.kind, via=UNATTENDED)

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _check_roles(roles) -> None:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise IdentityError(f"unknown role(s) {', '.join(unknown)}; roles: {', '.join(ROLES)}")

    @staticmethod
    def _set_roles(c: sa.Connection, name: str, roles, by: str) -> None:
        c.execute(user_roles.delete().where(user_roles.c.name == name))
        ts = now_iso()
        for role in sorted(set(roles)):
            c.execute(user_roles.insert().values(name=name, role=role, granted_by=by, granted_at=ts))


def _hash(password: str) -> str:
    if len(password) < 8:
        raise IdentityError("use a password of at least 8 characters")
    return _hasher.hash(password)
