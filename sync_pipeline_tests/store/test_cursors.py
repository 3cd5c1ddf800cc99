"""Cursors and what was read in their own second: persisted together, never moved backwards."""

from sync_pipeline.store.cursors import CursorStore
from sync_pipeline.store.operational import OperationalStore

KEY = ("qbo", "9130", "acme-uk/2026-10/invoices")


def test_what_was_read_in_the_cursors_second_moves_with_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    cursors = CursorStore(OperationalStore(url).engine)
    assert cursors.get(*KEY) is None and cursors.seen(*KEY) == {}
    cursors.advance(*KEY, "2026-12-07T09:00:05+00:00", 2, seen={"146": "f1", "147": "f2"})
    cursors.advance(*KEY, "2026-12-07T09:00:05+00:00", 1, seen={"146": "f3", "147": "f2", "148": "f4"})
    again = CursorStore(OperationalStore(url).engine)  # a new process on the same store
    assert (again.get(*KEY).cursor, again.get(*KEY).records) == ("2026-12-07T09:00:05+00:00", 3)
    assert again.seen(*KEY) == {"146": "f3", "147": "f2", "148": "f4"}
    # a later second replaces the set; an older cursor (a stale run) changes neither
    again.advance(*KEY, "2026-12-07T09:00:09.250000+00:00", 1, seen={"149": "f5"})
    again.advance(*KEY, "2026-12-07T09:00:06+00:00", 1, seen={"150": "f6"})
    assert again.get(*KEY).cursor == "2026-12-07T09:00:09.250000+00:00" and again.seen(*KEY) == {"149": "f5"}
    # without ``seen`` (the Harvest extraction) the set stays; a reset clears both
    again.advance(*KEY, "2026-12-07T09:00:10+00:00", 1)
    assert again.seen(*KEY) == {"149": "f5"}
    again.advance("qbo", "9130", "acme-uk/2026-10/payments", "2026-12-07T09:00:10+00:00", 1, seen={"7": "f"})
    again.reset("qbo", "9130", KEY[2])
    assert again.get(*KEY) is None and again.seen(*KEY) == {}
    assert again.seen("qbo", "9130", "acme-uk/2026-10/payments") == {"7": "f"}
