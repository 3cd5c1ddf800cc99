"""The pull-back cursor: every change read once, none lost, on either target's clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.domain.pull_cursor import Change, Mark, sift, window_start

T0 = datetime(2026, 12, 7, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_window_starts_at_the_marks_second():
    assert window_start(Mark()) is None
    assert window_start(Mark(at(3.999))) == at(3)
    assert window_start(Mark(at(3))) == at(3)


def test_a_change_in_the_marks_second_is_new_and_one_read_before_is_not():
    mark = Mark(at(5), {"inv-1": "v1"})
    listed = [Change("inv-1", at(5), "v1"), Change("inv-2", at(5), "v1"), Change("inv-1", at(5), "v1")]
    fresh, after = sift(mark, listed)
    assert fresh == [1]
    assert after == Mark(at(5), {"inv-1": "v1", "inv-2": "v1"})
    # the same document changed again in the same second: same stamp (whole seconds), other content
    fresh, after = sift(after, [Change("inv-1", at(5), "v2"), Change("inv-2", at(5), "v1")])
    assert fresh == [0] and after.seen == {"inv-1": "v2", "inv-2": "v1"}


def test_a_new_second_forgets_the_old_one_and_the_target_rounding_down_adds_nothing():
    mark = Mark(at(5.2), {"a": "1", "b": "1"})
    fresh, after = sift(mark, [Change("old", at(4.9), "1"), Change("a", at(5.2), "1"), Change("c", at(7.5), "1"),
                               Change("d", at(7.1), "1")])
    assert fresh == [2, 3]
    assert after == Mark(at(7.5), {"c": "1", "d": "1"})


def test_an_earlier_stamp_inside_the_second_is_still_read():
    """Xero's milliseconds: a change stamped .300 arrives after one stamped .900 was read."""
    fresh, after = sift(Mark(at(5.9), {"a": "1"}), [Change("a", at(5.9), "1"), Change("b", at(5.3), "1")])
    assert fresh == [1] and after == Mark(at(5.9), {"a": "1", "b": "1"})


def test_a_document_listed_twice_counts_once_in_its_newest_listing():
    fresh, after = sift(Mark(), [Change("a", at(1), "1"), Change("a", at(2), "2"), Change("a", at(2), "2b")])
    assert fresh == [2] and after == Mark(at(2), {"a": "2b"})


def test_an_unstamped_document_is_always_new_and_moves_nothing():
    mark = Mark(at(5), {"a": "1"})
    fresh, after = sift(mark, [Change("x", None, "1")])
    assert fresh == [0] and after == mark
    assert sift(Mark(), [Change("x", None, "1")]) == ([0], Mark())


def test_nothing_listed_keeps_the_mark():
    mark = Mark(at(5), {"a": "1"})
    assert sift(mark, []) == ([], mark)


# -- the property: each target's clock, edits and pulls interleaved ----------------------------------------------
@dataclass
class Target:
    """A target's change feed: stamps at its clock's resolution, answering changes at or after ``since`` (less
    ``rounds_down``: a target may answer from a little earlier)."""

    resolution: timedelta
    rounds_down: timedelta = timedelta(0)
    docs: dict[str, tuple[datetime, int]] = field(default_factory=dict)

    def edit(self, doc: str, when: datetime) -> None:
        stamp = T0 + (when - T0) // self.resolution * self.resolution
        self.docs[doc] = (stamp, self.docs.get(doc, (stamp, 0))[1] + 1)

    def fingerprint(self, doc: str) -> str:
        stamp, version = self.docs[doc]
        return f"{stamp.isoformat()}#{version}"  # content and stamp, as a hash of the whole document would be

    def changed(self, since: datetime | None, rng: random.Random, repeat: int) -> list[Change]:
        start = None if since is None else since - self.rounds_down
        out = [Change(d, s, self.fingerprint(d)) for d, (s, _) in self.docs.items() if start is None or s >= start]
        out += out[:repeat]  # a page read twice
        rng.shuffle(out)  # in no particular order
        return out


TARGETS = {
    "qbo query (whole seconds, >=)": dict(resolution=timedelta(seconds=1)),
    "qbo cdc (whole seconds, one second earlier)": dict(resolution=timedelta(seconds=1),
                                                        rounds_down=timedelta(seconds=1)),
    "xero (milliseconds, >=)": dict(resolution=timedelta(milliseconds=1)),
}

# an edit: (document, milliseconds the clock moves on first, where in its second the stamp falls); or a pull
EDIT = st.tuples(st.sampled_from("abcd"), st.integers(0, 1500), st.integers(0, 999))
STEPS = st.lists(st.one_of(EDIT, st.just("pull")), min_size=1, max_size=40)


@pytest.mark.parametrize("clock", TARGETS)
@given(steps=STEPS, rng=st.randoms(use_true_random=False), repeat=st.integers(0, 2))
def test_every_change_is_read_once_and_none_is_lost(clock, steps, rng, repeat):
    """At every pull, the documents read are exactly those whose content or stamp differs from what was read of
    them last: same-second edits, stamps out of order within their second, a target that rounds down, pages
    repeated and shuffled."""
    target = Target(**TARGETS[clock])
    mark, read, now = Mark(), {}, T0
    for step in [*steps, "pull"]:
        if step == "pull":
            listed = target.changed(window_start(mark), rng, repeat)
            fresh, mark = sift(mark, listed)
            got = [listed[n] for n in fresh]
            expected = {d for d in target.docs if read.get(d) != target.fingerprint(d)}
            assert sorted(c.id for c in got) == sorted(expected)
            assert all(c.fingerprint == target.fingerprint(c.id) for c in got)
            read |= {c.id: c.fingerprint for c in got}
            continue
        doc, move_ms, within_ms = step
        now += timedelta(milliseconds=move_ms)
        # the stamp falls anywhere in the current second: in order across seconds, not within one
        target.edit(doc, now.replace(microsecond=0) + timedelta(milliseconds=within_ms))
