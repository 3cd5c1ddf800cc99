"""A failing run never writes a secret into Dagster's event log."""

import logging

from dagster import AssetExecutionContext, DagsterInstance, asset, materialize

from sync_pipeline.defs.resources import HarvestResource, XeroResource
from sync_pipeline.sandbox import demo_data

TOKEN = "hv-TOKEN-7f3a9c2e5b1d"  # wrong for the sandbox: the run fails with HTTP 401
SECRET = "xero-SECRET-4d2b8e6a"


@asset
def leaky_extract(context: AssetExecutionContext, harvest: HarvestResource, xero: XeroResource) -> None:
    # careless log lines of the kind that leak credentials in real projects
    context.log.info(f"calling Harvest with Authorization: Bearer {harvest.access_token}")
    context.log.warning("xero config: client_secret=%s", xero.client_secret)
    logging.getLogger("dagster").info("token in a captured python log: %s", harvest.access_token)
    client = harvest.client(demo_data.HARVEST_ACCOUNT_ID)
    try:
        next(client.pages("time_entries"))
    finally:
        client.close()


def test_token_never_appears_in_the_event_log_of_a_failing_run(sandboxes):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [leaky_extract], instance=instance, raise_on_error=False,
            resources={
                "harvest": HarvestResource(base_url=sandboxes.harvest_server.url, access_token=TOKEN, max_attempts=1),
                "xero": XeroResource(base_url=sandboxes.xero_server.url, client_id="cid", client_secret=SECRET),
            },
        )
        assert not result.success
        records = instance.all_logs(result.run_id)
        texts = []
        for r in records:
            texts += [r.user_message or "", r.message or ""]
            ev = r.dagster_event
            if ev is not None and ev.event_specific_data is not None:
                texts.append(repr(ev.event_specific_data))
        blob = "\n".join(texts)
        assert "check the credentials of harvest" in blob  # the failure itself is reported
        assert "calling Harvest with Authorization: Bearer ***" in blob  # the careless line was kept, masked
        assert "client_secret=***" in blob
        assert TOKEN not in blob and SECRET not in blob
