"""OAuth tokens of the accounting systems that rotate them (QuickBooks Online), kept in the operational store.

A :class:`~sync_pipeline.connectors.qbo.auth.TokenStore` on SQLAlchemy Core: one row per (system, account), written
in its own transaction before the new tokens are used, so every worker of every run sees the rotated refresh token
(Intuit invalidates the previous one). The values are credentials: they never reach a log (the connector registers
them with ``connectors.redaction``), the table is classed ``secret`` and both tokens are encrypted at rest
(``store.protection``, rotated by ``sync-pipeline keys``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.connectors.qbo.auth import Tokens
from sync_pipeline.store.operational import metadata, now_iso
from sync_pipeline.store.protection import protector

oauth_tokens = sa.Table(
    "oauth_tokens",
    metadata,
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("refresh_token", sa.Text, nullable=False),
    sa.Column("access_token", sa.Text, nullable=True),
    sa.Column("access_expires_at", sa.Float, nullable=False, default=0.0),
    sa.Column("refresh_expires_at", sa.Float, nullable=True),
    sa.Column("updated_at", sa.String(40), nullable=False),
)


class OAuthTokenStore:
    """``load``/``save`` of one system's tokens per account (a QuickBooks realm)."""

    def __init__(self, engine: Engine, system: str = "qbo") -> None:
        self.engine = engine
        self.system = system
        metadata.create_all(engine, tables=[oauth_tokens])

    def load(self, account: str) -> Tokens | None:
        t = oauth_tokens
        with self.engine.connect() as c:
            row = c.execute(sa.select(t).where(t.c.system == self.system, t.c.account == account)).mappings().first()
        if row is None:
            return None
        p = protector(self.engine)  # encrypted at rest (store.protection); a row from before passes through
        return Tokens(refresh_token=p.decrypt_field(row["refresh_token"], "oauth_tokens.refresh_token"),
                      access_token=p.decrypt_field(row["access_token"], "oauth_tokens.access_token"),
                      access_expires_at=row["access_expires_at"], refresh_expires_at=row["refresh_expires_at"])

    def save(self, account: str, tokens: Tokens) -> None:
        t = oauth_tokens
        p = protector(self.engine)
        values = {"refresh_token": p.encrypt_field(tokens.refresh_token, "oauth_tokens.refresh_token"),
                  "access_token": p.encrypt_field(tokens.access_token, "oauth_tokens.access_token"),
                  "access_expires_at": tokens.access_expires_at, "refresh_expires_at": tokens.refresh_expires_at,
                  "updated_at": now_iso()}
        with self.engine.begin() as c:
            found = c.execute(sa.select(t.c.account).where(t.c.system == self.system, t.c.account == account)
                              .with_for_update()).first()
            if found is None:
                c.execute(t.insert().values(system=self.system, account=account, **values))
            else:
                c.execute(t.update().where(t.c.system == self.system, t.c.account == account).values(**values))
