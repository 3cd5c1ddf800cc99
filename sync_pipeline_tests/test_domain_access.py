"""The RBAC matrix: every action (CLI command, workbench action, Dagster-launched write) as every role.

Each action is run through the real gate — a user holding only that role signs in with an API token
(``cli.authorize``, the check ``main`` makes before any command runs; ``workbench.auth.User.may`` for
workbench routes) — and must be allowed exactly when the access table says so. Commands, workbench
permissions and Dagster writes are discovered from the code, so one without a rule fails here.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from sync_pipeline.cli import authorize, build_parser, leaf_commands
from sync_pipeline.domain.access import PUBLIC, ROLES, RULES, AccessDenied, Actor, check, rule
from sync_pipeline.workbench.auth import User
from sync_pipeline_tests.identity import token_for

PACKAGE = Path(__file__).resolve().parents[1] / "sync_pipeline"


def cli_actions() -> set[str]:
    return {"bench" if path[0] == "bench" else ".".join(path) for path, _ in leaf_commands(build_parser())}


def workbench_actions() -> set[str]:
    src = "".join(p.read_text() for p in sorted((PACKAGE / "workbench").glob("*.py")))
    return {f"workbench.{p}" for p in re.findall(r"""need\(request, ["'](\w+)["']\)""", src)}


def dagster_actions() -> set[str]:
    found = set()
    for f in (PACKAGE / "defs").rglob("*.py"):
        found |= set(re.findall(r"""(?:run_identity\(|action: str = )[^"']*["'](dagster\.\w+)["']""", f.read_text()))
    return found


def test_every_action_in_the_code_has_a_rule():
    actions = cli_actions() | workbench_actions() | dagster_actions()
    assert {"posting.run", "dlq.replay", "sync", "workbench.decide", "dagster.post", "dagster.replay"} <= actions
    assert sorted(a for a in actions if a not in RULES) == []


def test_an_action_without_a_rule_is_refused_for_everyone():
    with pytest.raises(AccessDenied, match="no access rule for action 'posting.teleport'"):
        check(Actor("root", frozenset(ROLES)), "posting.teleport")
    with pytest.raises(AccessDenied):
        User("root", ",".join(ROLES)).may("teleport")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """One user per role, each holding only that role, and their tokens; the store URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('rbac') / 'op.sqlite3'}"
    return url, {role: token_for(url, f"only-{role}", role) for role in ROLES}


def test_cli_matrix_every_command_as_every_role(tokens, monkeypatch):
    url, by_role = tokens
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", url)
    outcomes = {}
    for action in sorted(cli_actions()):
        for role, token in by_role.items():
            args = argparse.Namespace(_action=action if action != "bench" else "bench.posting")
            try:
                who = authorize(args, {"SYNC_PIPELINE_TOKEN": token})
                outcomes[action, role] = True
                assert who is not None and who.name == f"only-{role}"
            except AccessDenied as e:
                outcomes[action, role] = False
                assert f"only-{role} (roles: {role}) may not {action}" in str(e)
        r = rule(action)
        for role in ROLES:
            assert outcomes[action, role] == (r == PUBLIC or role in r), (action, role)
        if r != PUBLIC:  # nobody signed in: refused, with what to do
            with pytest.raises(AccessDenied, match="needs a signed-in user: set SYNC_PIPELINE_TOKEN"):
                authorize(argparse.Namespace(_action=action), {})
    # segregation of duties, stated independently of the table
    for must_not in [("posting.run", "viewer"), ("posting.run", "approver"), ("dlq.replay", "viewer"),
                     ("dlq.show", "viewer"), ("sync", "viewer"), ("users.add", "operator"),
                     ("posting.limits", "operator"), ("users.token.create", "approver")]:
        assert outcomes[must_not] is False, must_not
    for must in [("posting.run", "operator"), ("posting.run", "automation"),
                 ("sync", "automation"), ("users.add", "admin"), ("dlq.replay", "operator"),
                 ("posting.pause", "approver"), ("import.csv", "billing_clerk")]:
        assert outcomes[must] is True, must


def test_workbench_and_dagster_matrix(tokens):
    for action in sorted(workbench_actions() | dagster_actions()):
        for role in ROLES:
            expected = role in rule(action)
            if action.startswith("workbench."):
                assert User(f"only-{role}", role).may(action.removeprefix("workbench.")) == expected, (action, role)
            else:
                assert Actor(f"only-{role}", frozenset({role})).may(action) == expected, (action, role)
    assert not User("v", "viewer").may("decide") and User("a", "accountant").may("decide")


def test_a_bad_expired_or_revoked_token_signs_nobody_in(tokens, monkeypatch):
    from sync_pipeline.store.identity import Identities
    from sync_pipeline.store.operational import OperationalStore

    url, by_role = tokens
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", url)
    args = argparse.Namespace(_action="posting.status")
    good = by_role["viewer"]
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for bad in (tampered, "spt_nothing_here", "not-a-token"):
        with pytest.raises(AccessDenied, match="not a valid token"):
            authorize(args, {"SYNC_PIPELINE_TOKEN": bad})
    ids = Identities(OperationalStore(url))
    token = ids.issue_token("only-viewer", by="pytest-admin", days=1)
    assert authorize(args, {"SYNC_PIPELINE_TOKEN": token}).name == "only-viewer"
    ids.revoke_token(token.split("_")[1], by="pytest-admin")
    with pytest.raises(AccessDenied, match="not a valid token"):
        authorize(args, {"SYNC_PIPELINE_TOKEN": token})
