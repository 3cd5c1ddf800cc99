"""The access rules as a pure table: public actions, role checks and what a refusal tells the user."""

import pytest

from sync_pipeline.domain.access import PUBLIC, RULES, AccessDenied, Actor, allowed, check, is_public, rule

OPERATOR = Actor("olga", frozenset({"operator"}))
VIEWER = Actor("vic", frozenset({"viewer"}))


def test_public_actions_need_nobody_and_hand_back_whoever_is_there():
    assert rule("demo") == PUBLIC and is_public("demo") and not is_public("posting.run")
    assert check(None, "demo") is None
    assert check(VIEWER, "bench") is VIEWER
    assert allowed("bench", frozenset()) and allowed("bench", set())


def test_an_action_is_allowed_to_any_role_its_rule_names():
    assert rule("posting.run") == frozenset({"operator", "automation"})
    assert allowed("posting.run", {"operator"}) and allowed("posting.run", {"viewer", "automation"})
    assert not allowed("posting.run", {"approver", "admin"}) and not allowed("posting.run", set())
    assert OPERATOR.may("dlq.replay") and not VIEWER.may("dlq.replay")
    assert check(OPERATOR, "dlq.replay") is OPERATOR
    assert (OPERATOR.kind, OPERATOR.via, Actor("x").roles) == ("person", "token", frozenset())


def test_nobody_signed_in_is_told_how_to_sign_in():
    with pytest.raises(AccessDenied, match=r"^posting\.run needs a signed-in user: set SYNC_PIPELINE_TOKEN to your API "
                                           r"token \(an admin creates one with `sync-pipeline users token create "
                                           r"NAME`\)$"):
        check(None, "posting.run")


def test_a_refusal_names_the_actor_its_roles_and_the_roles_needed():
    with pytest.raises(AccessDenied, match=r"^vic \(roles: viewer\) may not dlq\.replay; it needs one of: operator$"):
        check(VIEWER, "dlq.replay")
    two = Actor("bo", frozenset({"viewer", "accountant"}))
    with pytest.raises(AccessDenied, match=r"^bo \(roles: accountant, viewer\) may not posting\.run; it needs one of: "
                                           r"automation, operator$"):
        check(two, "posting.run")
    with pytest.raises(AccessDenied, match=r"^nobody \(roles: none\) may not sync"):
        check(Actor("nobody"), "sync")


def test_an_action_without_a_rule_is_refused_with_where_to_add_it():
    with pytest.raises(AccessDenied, match=r"^no access rule for action 'posting\.teleport': add it to "
                                           r"sync_pipeline/domain/access\.py RULES$"):
        rule("posting.teleport")
    for call in (lambda: is_public("x"), lambda: allowed("x", {"admin"}), lambda: check(OPERATOR, "x"),
                 lambda: check(None, "x"), lambda: OPERATOR.may("x")):
        with pytest.raises(AccessDenied, match="no access rule for action 'x'"):
            call()
    assert all(isinstance(r, frozenset) or r == PUBLIC for r in RULES.values())


def test_an_unattended_launch_may_post_an_approved_plan_but_not_purge_or_replay():
    from sync_pipeline.domain.access import SIGNED_LAUNCH_ONLY, UNATTENDED, check_launch

    ui = Actor("dagster-ui", frozenset({"automation"}), "automation", via=UNATTENDED)
    schedule = Actor("schedule:retention_purge_monthly", frozenset({"automation"}), "automation", via="schedule")
    person = Actor("pia", frozenset({"privacy_officer"}), via="ticket")
    assert check_launch(ui, "dagster.post") is ui  # four eyes decided what it posts
    for action in ("dagster.purge", "dagster.replay"):
        with pytest.raises(AccessDenied, match=rf"^{action} refused: .*without a signed-in person.*dagster-ui"):
            check_launch(ui, action)
        assert SIGNED_LAUNCH_ONLY[action] in str(pytest.raises(AccessDenied, check_launch, ui, action).value)
    assert check_launch(schedule, "dagster.purge") is schedule
    assert check_launch(person, "dagster.purge") is person
    with pytest.raises(AccessDenied, match="may not dagster.replay"):  # the role table still applies first
        check_launch(person, "dagster.replay")
