"""``sync-pipeline users``: bootstrap the first admin, add people, issue and revoke tokens — admin only."""

from __future__ import annotations

import json

from sync_pipeline.cli import main


def test_bootstrap_then_admin_manages_users_and_tokens(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", f"sqlite:///{tmp_path / 'op.sqlite3'}")
    monkeypatch.delenv("SYNC_PIPELINE_TOKEN", raising=False)
    assert main(["users", "bootstrap", "--name", "root"]) == 0
    admin_token = capsys.readouterr().out.splitlines()[1]
    assert main(["users", "bootstrap", "--name", "mallory"]) == 2  # only once
    assert "users exist already" in capsys.readouterr().err
    assert main(["users", "list"]) == 2  # nobody signed in
    monkeypatch.setenv("SYNC_PIPELINE_TOKEN", admin_token)
    assert main(["users", "add", "carol", "--role", "approver"]) == 0
    assert main(["users", "token", "create", "carol", "--days", "7"]) == 0
    carol_token = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["users", "list"]) == 0
    listed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(u["name"], u["roles"]) for u in listed] == [("carol", ["approver"]), ("root", ["admin"])]
    monkeypatch.setenv("SYNC_PIPELINE_TOKEN", carol_token)
    assert main(["users", "whoami"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "carol"
    assert main(["users", "add", "eve", "--role", "admin"]) == 2  # an approver is not an admin
    assert "carol (roles: approver) may not users.add" in capsys.readouterr().err
    monkeypatch.setenv("SYNC_PIPELINE_TOKEN", admin_token)
    assert main(["users", "token", "list", "carol"]) == 0
    [tok] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert carol_token not in json.dumps(tok)
    assert main(["users", "token", "revoke", tok["token_id"]]) == 0
    monkeypatch.setenv("SYNC_PIPELINE_TOKEN", carol_token)
    assert main(["users", "whoami"]) == 2
    assert "not a valid token" in capsys.readouterr().err
