"""Rotating OAuth tokens in the operational store: the QuickBooks auth persists each rotation there."""

from __future__ import annotations

import sqlalchemy as sa

from sync_pipeline.connectors.qbo import QboAuth, Tokens
from sync_pipeline.store.oauth_tokens import OAuthTokenStore
from sync_pipeline_tests.connectors.qbo.fake_qbo import REALM, FakeQbo, transport


def test_tokens_round_trip_per_system_and_account(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    qbo, other = OAuthTokenStore(engine), OAuthTokenStore(engine, system="other")
    assert qbo.load(REALM) is None
    qbo.save(REALM, Tokens("rt-1-abcdef"))
    qbo.save(REALM, Tokens("rt-2-abcdef", "at-2-abcdef", 1_800_000_000.0, 1_900_000_000.0))
    assert qbo.load(REALM) == Tokens("rt-2-abcdef", "at-2-abcdef", 1_800_000_000.0, 1_900_000_000.0)
    assert other.load(REALM) is None


def test_a_rotation_is_in_the_store_before_the_token_is_used(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    store = OAuthTokenStore(engine)
    store.save(REALM, Tokens(refresh_token="rt-initial-000001"))
    fake = FakeQbo()
    auth = QboAuth(REALM, "cid", "secret-abcdef", store, token_url="https://oauth.example/tokens/bearer",
                   transport=transport(fake))
    token = auth.bearer()
    again = OAuthTokenStore(engine).load(REALM)  # another worker, another connection
    assert again.refresh_token == "rt-rotated-000001" and again.access_token == token


def test_tokens_are_encrypted_at_rest(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    OAuthTokenStore(engine).save(REALM, Tokens("rt-secret-abcdef", "at-secret-abcdef", 1.0))
    with engine.connect() as c:
        raw = c.exec_driver_sql("SELECT refresh_token, access_token FROM oauth_tokens").one()
    assert all(v.startswith("enc1:") and "secret" not in v for v in raw)
    assert OAuthTokenStore(engine).load(REALM).refresh_token == "rt-secret-abcdef"
