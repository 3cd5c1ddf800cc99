"""The operational store, its identities and who runs the command, for the CLI (a private module: it registers
no command)."""

from __future__ import annotations

import argparse
import functools

from sync_pipeline.domain.access import Actor


def store():
    """The configured operational store (SYNC_PIPELINE_STORE_URL): one per URL in this process."""
    from sync_pipeline.defs import settings

    return _store(settings.operational_store_url())


def identities():
    """The identities of the configured operational store (SYNC_PIPELINE_STORE_URL)."""
    from sync_pipeline.store.identity import Identities

    return Identities(store())


@functools.lru_cache(maxsize=8)
def _store(url: str):
    from sync_pipeline.store.operational import OperationalStore

    return OperationalStore(url)


def actor(args: argparse.Namespace) -> Actor:
    """Who runs the command: the signed-in user (``main`` put it on ``args``)."""
    a = getattr(args, "actor", None)
    if a is None:
        from sync_pipeline.cli import UserError

        raise UserError("this command needs a signed-in user: set SYNC_PIPELINE_TOKEN")
    return a


def who(args: argparse.Namespace) -> str:
    """The signed-in user's name (SYNC_PIPELINE_TOKEN): the actor recorded for the command."""
    return actor(args).name
