"""Fault bodies mapped onto our error classes, as Intuit documents them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.http import TransientError
from sync_pipeline.connectors.qbo.faults import (
    DuplicateDocNumber,
    QboFault,
    ReconnectRequired,
    StaleObject,
    classify,
    is_transient,
    read_fault,
)
from sync_pipeline_tests.connectors.qbo.fake_qbo import fault


@pytest.mark.parametrize(("body", "status", "cls"), [
    (fault("2020", "Required param missing, need to supply the required value for the API"), 400, QboFault),
    (fault("5010", "Stale Object Error"), 400, StaleObject),
    (fault("6140", "Duplicate Document Number Error"), 400, DuplicateDocNumber),
    (fault("3200", "message=AuthenticationFailed", "AuthenticationFault"), 401, ReconnectRequired),
    (fault("120", "Authorization Failure", "AuthorizationFault"), 403, ReconnectRequired),
    (fault("10000", "An application error has occurred", "SystemFault"), 500, TransientError),
    (fault("3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429", "ThrottleExceeded"), 429,
     TransientError),
])
def test_each_documented_fault_has_its_class(body, status, cls) -> None:
    err = classify(read_fault(body), status=status, system="qbo", method="POST", url="/invoice")
    assert type(err) is cls
    if cls is not TransientError:
        assert not isinstance(err, TransientError)


def test_a_validation_fault_says_what_and_where() -> None:
    f = read_fault({"Fault": {"Error": [{"Message": "Invalid Reference Id", "Detail": "Invalid Reference Id : "
                                         "Item assigned to this transaction has been deleted", "code": "2500",
                                         "element": "Line.ItemRef"}], "type": "ValidationFault"}})
    assert str(f) == ("QuickBooks error 2500: Invalid Reference Id : Item assigned to this transaction has been "
                      "deleted (field Line.ItemRef)")
    assert not is_transient(f)


def test_throttling_waits_the_documented_minute() -> None:
    err = classify(read_fault(fault("3001", "ThrottleExceeded")), status=429, system="qbo", method="GET", url="q")
    assert isinstance(err, TransientError) and err.retry_after == 60.0 and not err.maybe_processed


@pytest.mark.parametrize("body", [None, [], {"Fault": "x"}, {"Fault": {"Error": "no", "type": 3}},
                                  {"Fault": {"Error": [None, 7], "type": "ValidationFault"}}])
def test_odd_fault_bodies_never_crash(body) -> None:
    f = read_fault(body)
    assert f is None or str(f)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.sampled_from(["Fault", "Error", "type", "code", "Message", "Detail", "element", "x"]),
                               inner, max_size=4), max_leaves=10)


@given(json_values, st.sampled_from([None, 200, 400, 401, 403, 429, 500, 503]))
def test_any_answer_reads_as_a_fault_or_none_and_always_classifies(body, status) -> None:
    f = read_fault(body)
    if f is not None:
        assert f.errors and str(f)
        err = classify(f, status=status, system="qbo", method="GET", url="/query")
        assert isinstance(err, TransientError | QboFault | ReconnectRequired)
