"""The operational store resource opens the store once per run for all its steps, not once per step."""

from __future__ import annotations

from dagster import asset, build_sensor_context, materialize, sensor

from sync_pipeline.defs.resources import OperationalStoreResource

_seen: list = []  # the stores themselves: ids of collected objects could repeat


@asset
def first(opstore: OperationalStoreResource) -> None:
    _seen.append(opstore.get())


@asset(deps=[first])
def second(opstore: OperationalStoreResource) -> None:
    _seen.append(opstore.get())
    _seen.append(opstore.get())


def test_the_steps_of_one_run_share_one_store_and_the_next_run_opens_it_again(tmp_path):
    resource = OperationalStoreResource(url=f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    _seen.clear()
    assert materialize([first, second], resources={"opstore": resource}).success
    assert len(_seen) == 3 and _seen[0] is _seen[1] is _seen[2]
    run_one = _seen[0]
    _seen.clear()
    assert materialize([first, second], resources={"opstore": resource}).success
    assert _seen[0] is _seen[1] is _seen[2] and _seen[0] is not run_one  # a run never inherits another's store (keys, schema)


def test_each_sensor_tick_opens_the_store_anew(tmp_path):
    ticks: list = []

    @sensor(target=[first])
    def probe(opstore: OperationalStoreResource):
        ticks.append(opstore.get())

    resource = OperationalStoreResource(url=f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    for _ in range(2):
        with build_sensor_context(resources={"opstore": resource}) as ctx:
            probe(ctx)
    assert len(ticks) == 2 and ticks[0] is not ticks[1]
