"""Trace ids: W3C-shaped, taken from the run's tags when valid, else derived from the run id."""

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.domain.tracing import TRACE_TAG, is_trace_id, new_trace_id, trace_id_of

RUN_ID = "63a19125-ac03-4097-b26d-4b6ac960747a"


def test_a_new_trace_id_is_32_hex_digits_and_fresh_each_time():
    a, b = new_trace_id(), new_trace_id()
    assert is_trace_id(a) and is_trace_id(b) and a != b


def test_the_tag_wins_else_the_run_id_is_the_trace():
    tagged = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_of({TRACE_TAG: tagged}, RUN_ID) == tagged
    assert trace_id_of({}, RUN_ID) == "63a19125ac034097b26d4b6ac960747a"
    assert trace_id_of({TRACE_TAG: "0" * 32}, RUN_ID) == "63a19125ac034097b26d4b6ac960747a"  # invalid per W3C


@given(st.dictionaries(st.just(TRACE_TAG), st.text(max_size=40)), st.text(max_size=40))
def test_whatever_the_tags_and_run_id_say_the_trace_id_is_valid(tags, run_id):
    assert is_trace_id(trace_id_of(tags, run_id))
