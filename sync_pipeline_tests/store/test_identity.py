"""Identities in the operational store: argon2 passwords, hashed scoped expiring tokens, automations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sync_pipeline.store.identity import Identities, IdentityError, api_tokens, users
from sync_pipeline_tests.posting.conftest import make_store


@pytest.fixture(params=["sqlite", "postgres"])
def ids(request, tmp_path):
    for store in make_store(request.param, tmp_path):
        yield Identities(store)


def test_passwords_are_argon2_and_only_the_right_one_signs_in(ids):
    ids.add("alice", ["accountant", "viewer"], by="root", password="correct horse")
    with ids.engine.connect() as c:
        stored = c.execute(sa.select(users.c.password_hash).where(users.c.name == "alice")).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    who = ids.authenticate_password("alice", "correct horse")
    assert who.name == "alice" and who.roles == {"accountant", "viewer"} and who.via == "password"
    assert ids.authenticate_password("alice", "wrong horse") is None
    assert ids.authenticate_password("nobody", "correct horse") is None
    ids.disable("alice", by="root")
    assert ids.authenticate_password("alice", "correct horse") is None
    with pytest.raises(IdentityError, match="at least 8 characters"):
        ids.add("bob", ["viewer"], by="root", password="short")
    with pytest.raises(IdentityError, match="unknown role"):
        ids.add("bob", ["superuser"], by="root")


def test_tokens_are_hashed_scoped_expiring_and_revocable(ids):
    ids.add("olivia", ["operator", "approver"], by="root")
    token = ids.issue_token("olivia", by="root", scopes=["operator"], note="ci")
    with ids.engine.connect() as c:
        row = c.execute(sa.select(api_tokens)).mappings().one()
    assert token.split("_", 2)[2] not in str(dict(row))  # the secret is not stored, only its digest
    who = ids.authenticate_token(token)
    assert who.name == "olivia" and who.roles == {"operator"}  # scoped: not an approver through this token
    assert ids.authenticate_token(token[:-1] + ("x" if token[-1] != "x" else "y")) is None
    with ids.engine.begin() as c:  # expired yesterday
        c.execute(api_tokens.update().values(expires_at=(datetime.now(UTC) - timedelta(days=1)).isoformat()))
    assert ids.authenticate_token(token) is None
    other = ids.issue_token("olivia", by="root")
    assert ids.authenticate_token(other).roles == {"operator", "approver"}
    ids.revoke_token(other.split("_")[1], by="root")
    assert ids.authenticate_token(other) is None
    with pytest.raises(IdentityError, match="does not hold admin"):
        ids.issue_token("olivia", by="root", scopes=["admin"])
    assert [a["action"] for a in ids.store.audit_entries()] == ["user_added", "token_issued", "token_issued",
                                                                "token_revoked"]


def test_bootstrap_once_and_automations_have_no_password(ids):
    admin, token = ids.bootstrap("root")
    assert admin.roles == {"admin"} and ids.authenticate_token(token).name == "root"
    with pytest.raises(IdentityError, match="users exist already"):
        ids.bootstrap("mallory")
    bot = ids.ensure_automation("schedule:nightly_sync")
    assert bot.kind == "automation" and bot.roles == {"automation"}
    assert ids.ensure_automation("schedule:nightly_sync") == bot
    with pytest.raises(IdentityError, match="signs in with a token"):
        ids.add("sensor:x", ["automation"], by="root", kind="automation", password="long enough pw")


def test_importing_the_store_does_no_password_hash_work():
    """Every Dagster step and CLI call imports the identity store; an argon2 hash at import cost each
    of them a second or two before doing anything."""
    import subprocess
    import sys

    probe = ("import argon2\n"
             "def refuse(*a, **k): raise SystemExit('argon2 hash computed at import')\n"
             "argon2.PasswordHasher.hash = refuse\n"
             "import sync_pipeline.store.identity\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or done.stdout


def test_an_unknown_name_costs_a_verification_like_a_known_one(ids, monkeypatch):
    from sync_pipeline.store import identity

    ids.add("ann", ["viewer"], by="admin", password="right horse battery")
    identity._dummy_hash()  # made on first use (with the real hasher), whichever test of this worker came first
    verified: list[str] = []
    real = identity._hasher

    class Counting:
        def verify(self, h, p):
            verified.append(h)
            return real.verify(h, p)

    monkeypatch.setattr(identity, "_hasher", Counting())
    assert ids.authenticate_password("nobody", "right horse battery") is None
    assert ids.authenticate_password("ann", "wrong") is None
    assert len(verified) == 2 and verified[0] == identity._dummy_hash() and verified[1] != verified[0]
