"""The operator's tools: `sync-pipeline posting …` and `sync-pipeline dlq …`, and the replay job in Dagster."""

import json

import pytest

from sync_pipeline.cli import main
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.approvals import AwaitingApproval
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.identity import approve_awaiting, run_tags, sign_in
from sync_pipeline_tests.posting.conftest import drafts
from sync_pipeline_tests.posting.test_posting_service import BASE, live

TENANT = demo_data.XERO_TENANT_ID


@pytest.fixture
def cli_env(sandboxes, tmp_path, monkeypatch):
    for k, v in sandboxes.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SYNC_PIPELINE_WAREHOUSE", str(tmp_path / "warehouse"))
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", "olivia", "operator", "admin")
    Warehouse(tmp_path / "warehouse").write("invoice_drafts", "acme-uk", "2026-10", drafts("acme-uk", "2026-10", BASE))
    return OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")


def clash(sandboxes):
    """Someone created "Globex GmbH" in Xero by hand, without our ContactNumber."""
    from sync_pipeline.connectors.xero import XeroClient

    c = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret, TENANT)
    c.create_contacts([{"Name": "Globex GmbH"}], idempotency_key="manual")
    return c


def link_contact(sandboxes, client):
    [c] = [c for c in sandboxes.xero.all("Contacts", TENANT) if c["Name"] == "Globex GmbH"]
    client.update("Contacts", [{"ContactID": c["ContactID"], "ContactNumber": "HARVEST-2"}], idempotency_key="fix")


def as_user(monkeypatch, tmp_path, name, *roles):
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", name, *roles)


def approve_from_the_cli(monkeypatch, tmp_path, capsys) -> str:
    """carol (approver) reads the stored plan and approves it; back to olivia. The approved hash."""
    capsys.readouterr()
    as_user(monkeypatch, tmp_path, "carol", "approver")
    assert main(["posting", "plan", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    shown = capsys.readouterr().out
    [line] = [x for x in shown.splitlines() if "[awaiting_approval]" in x]
    plan_hash = line.split("stored plan ")[1].split()[0]
    assert main(["posting", "approve", "--entity", "acme-uk", "--period", "2026-10", "--plan-hash", plan_hash[:16],
                 "--comment", "checked against the timesheets"]) == 0
    assert f"plan {plan_hash} of acme-uk 2026-10 approved by carol" in capsys.readouterr().out
    as_user(monkeypatch, tmp_path, "olivia", "operator", "admin")
    return plan_hash


def test_posting_from_the_cli_waits_for_another_approver(sandboxes, cli_env, capsys, tmp_path, monkeypatch):
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 2
    err = capsys.readouterr().err
    assert "awaiting approval: plan " in err and "nothing was posted" in err and live(sandboxes) == []
    assert main(["posting", "plan", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    plan_hash = capsys.readouterr().out.split("plan hash ")[1].split()[0]
    # olivia triggered it: she may not approve it, even holding the approver role
    as_user(monkeypatch, tmp_path, "olivia", "operator", "admin", "approver")
    assert main(["posting", "approve", "--entity", "acme-uk", "--period", "2026-10", "--plan-hash", plan_hash]) == 2
    assert "olivia triggered plan" in capsys.readouterr().err
    as_user(monkeypatch, tmp_path, "olivia", "operator", "admin")
    assert main(["posting", "approve", "--entity", "acme-uk", "--period", "2026-10", "--plan-hash", plan_hash]) == 2
    assert "olivia (roles: admin, operator) may not posting.approve" in capsys.readouterr().err
    assert approve_from_the_cli(monkeypatch, tmp_path, capsys) == plan_hash
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    assert f"plan {plan_hash[:12]} approved by carol at " in capsys.readouterr().out
    assert len(live(sandboxes)) == 2
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 0  # posted exactly once
    assert "{'already_posted': 2}" in capsys.readouterr().out and len(live(sandboxes)) == 2


def test_dead_letters_listed_shown_and_replayed_from_the_cli(sandboxes, cli_env, capsys, tmp_path, monkeypatch):
    xc = clash(sandboxes)
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 2  # awaiting approval
    approve_from_the_cli(monkeypatch, tmp_path, capsys)
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    out = capsys.readouterr().out
    assert "failed   SP-acme-uk-2026-10-C2-R1: blocked: contact HARVEST-2 (Globex GmbH) could not be created" in out
    assert main(["dlq", "list"]) == 0
    listing = capsys.readouterr().out
    assert "create_contact" in listing and "create_invoice" in listing
    letter = next(x for x in DeadLetters(cli_env).open_for("acme-uk") if x["kind"] == "invoice")
    assert main(["dlq", "show", str(letter["id"])]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reference"] == "SP-acme-uk-2026-10-C2-R1"
    assert shown["source_records"]["lines"][0]["source_entry_ids"] == ["1005"]
    assert shown["attempts"][0]["triggered_by"] == "olivia"
    # replaying before the fix keeps the letters open, with one more attempt
    assert main(["dlq", "replay", "--entity", "acme-uk"]) == 1
    assert "still refused" in capsys.readouterr().out
    assert len(DeadLetters(cli_env).get(letter["id"])["attempts"]) == 2
    link_contact(sandboxes, xc)
    assert main(["dlq", "replay", "--entity", "acme-uk"]) == 0
    out = capsys.readouterr().out
    assert f"#{letter['id']} acme-uk 2026-10 SP-acme-uk-2026-10-C2-R1: open → replayed" in out
    assert DeadLetters(cli_env).open_for("acme-uk") == []
    assert sorted(d["Reference"] for d in live(sandboxes)) == ["SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C2-R1"]
    # the warehouse follows: posted_invoices shows it created by the replay
    posted = Warehouse(tmp_path / "warehouse").read("posted_invoices", "acme-uk", "2026-10")
    assert dict(zip(posted["reference"], posted["outcome"], strict=True))["SP-acme-uk-2026-10-C2-R1"] == "created"


def test_kill_switch_and_limits_from_the_cli(sandboxes, cli_env, capsys, tmp_path, monkeypatch):
    assert main(["posting", "pause", "--entity", "acme-uk", "--reason", "auditors in"]) == 0
    assert main(["posting", "status", "--entity", "acme-uk"]) == 0
    assert '"posting": "PAUSED"' in capsys.readouterr().out
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 2  # awaiting approval
    approve_from_the_cli(monkeypatch, tmp_path, capsys)
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    assert "held" in capsys.readouterr().out and live(sandboxes) == []
    assert main(["posting", "resume", "--entity", "acme-uk"]) == 0
    assert main(["posting", "limits", "--entity", "acme-uk", "--max-invoices", "1", "--max-total", "EUR=100"]) == 0
    capsys.readouterr()
    assert main(["posting", "plan", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    plan = capsys.readouterr().out
    assert "GUARD: the plan writes 2 documents, more than the limit of 1" in plan
    assert "GUARD: EUR: the plan writes 44000 minor units, more than the limit of 10000" in plan
    # over the limits, the plan is another plan: it waits for an approver, who sees the guard's findings
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 2  # refused, nothing written
    assert live(sandboxes) == []
    approve_from_the_cli(monkeypatch, tmp_path, capsys)
    assert main(["posting", "run", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    assert len(live(sandboxes)) == 2
    actions = [(a["actor"], a["action"]) for a in cli_env.audit_entries("acme-uk")]
    assert ("olivia", "posting_paused") in actions and ("carol", "guard_overridden") in actions


def test_replay_job_in_dagster(sandboxes, resources, instance, tmp_path):
    xc = clash(sandboxes)
    wh = resources["warehouse"].get()
    wh.write("invoice_drafts", "acme-uk", "2026-10", drafts("acme-uk", "2026-10", BASE))
    from sync_pipeline.services.dead_letters import PostingEnv, post_partition
    from sync_pipeline.services.posting import PostingRun

    store = resources["opstore"].get()
    env = PostingEnv(resources["mapping"].load(), wh, store, resources["xero"].target)
    with pytest.raises(AwaitingApproval):
        post_partition(env, "acme-uk", "2026-10", PostingRun("schedule:nightly"))
    approve_awaiting(store, "acme-uk", "2026-10", approver="carol")
    post_partition(env, "acme-uk", "2026-10", PostingRun("schedule:nightly"))
    open_ids = [x["id"] for x in DeadLetters(store).open_for("acme-uk")]
    assert len(open_ids) == 2
    link_contact(sandboxes, xc)
    job = build_defs(resources).resolve_job_def("replay_dead_letters")
    config = {"ops": {"replay_dead_letters_op": {"config": {"letter_ids": open_ids}}}}
    # launched from the UI (no run ticket, no schedule): a posting write nobody signed for is refused
    anonymous = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
    assert not anonymous.success
    [failure] = [e for e in anonymous.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "dagster.replay" in failure.event_specific_data.error.message
    assert "without a signed-in person" in failure.event_specific_data.error.message
    assert len(DeadLetters(store).open_for("acme-uk")) == 2
    res = job.execute_in_process(instance=instance, tags=run_tags(store, "olivia", "operator"), run_config={
        "ops": {"replay_dead_letters_op": {"config": {"letter_ids": open_ids}}}})
    assert res.success
    assert DeadLetters(store).open_for("acme-uk") == []
    mats = [e.event_specific_data.materialization for e in res.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert {(m.asset_key.path[0], m.partition) for m in mats} == {("posted_invoices", "acme-uk|2026-10-01"),
                                                                  ("posted_lines", "acme-uk|2026-10-01")}
    created = [r for r in store.ledger_for("acme-uk", "2026-10") if r["reference"].endswith("C2-R1")]
    assert created[0]["triggered_by"] == "olivia" and created[0]["run_id"] == res.run_id


def test_the_cli_posts_to_the_target_the_mapping_names(cli_env, sandboxes, tmp_path, monkeypatch):
    """`posting run|plan` and `dlq replay` build their target from the mapping, QuickBooks Online included, with
    the QuickBooks settings of the environment (QBO_CLIENT_ID, QBO_BASE_URL, the realm's refresh token)."""
    from sync_pipeline.cli.posting import posting_env
    from sync_pipeline.connectors.qbo import QboTarget
    from sync_pipeline_tests.accounting_targets import mapping_on

    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", f"sqlite:///{tmp_path / 'op.sqlite3'}")
    monkeypatch.setenv("SYNC_PIPELINE_MAPPING", str(mapping_on("qbo", tmp_path / "mapping-qbo.yaml")))
    env = posting_env()
    target = env.target_for(env.mapping.entity("acme-uk"))
    try:
        assert isinstance(target, QboTarget)
        target.probe()  # authenticated with the realm's refresh token from the environment
    finally:
        target.close()
    assert main(["posting", "plan", "--entity", "acme-uk", "--period", "2026-10"]) == 0
