from __future__ import annotations

import pickle

import pytest
from airflow.sdk.exceptions import AirflowException

from reliable_api import exceptions as exc


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (exc.RateLimited, exc.TransientError),
        (exc.ServerError, exc.TransientError),
        (exc.NetworkError, exc.TransientError),
        (exc.InFlightConflict, exc.TransientError),
        (exc.RecordRejected, exc.PermanentError),
        (exc.AuthenticationError, exc.PermanentError),
        (exc.ConfigurationError, exc.PermanentError),
        (exc.FailureBudgetExceeded, exc.PermanentError),
        (exc.TransientError, exc.ReliableApiError),
        (exc.PermanentError, exc.ReliableApiError),
        (exc.ReliableApiError, AirflowException),
    ],
)
def test_taxonomy_tree(cls: type, parent: type) -> None:
    assert issubclass(cls, parent)


def test_transient_and_permanent_are_disjoint() -> None:
    transient = {c for c in vars(exc).values() if isinstance(c, type) and issubclass(c, exc.TransientError)}
    assert not any(issubclass(c, exc.PermanentError) for c in transient)


def test_http_error_carries_request_facts_with_the_url_redacted() -> None:
    error = exc.ServerError(
        "the API failed",
        status=503,
        method="post",
        url="https://bob:hunter2@api.example.com/v1/contacts?api_key=s3cr3t&page=2",
        attempts=4,
        body="upstream unavailable",
    )
    assert (error.status, error.method, error.attempts) == (503, "POST", 4)
    assert error.url == "https://***@api.example.com/v1/contacts?api_key=***&page=2"
    text = str(error)
    assert "s3cr3t" not in text
    assert "hunter2" not in text
    assert "status: 503" in text
    assert "upstream unavailable" in text


def test_long_error_body_is_truncated_and_marked() -> None:
    error = exc.RecordRejected("rejected", status=422, body="x" * 10_000)
    assert error.body is not None
    assert error.body.startswith("x" * exc.MAX_BODY_CHARS)
    assert error.body.endswith("[8000 more characters]")


def test_bytes_body_is_decoded_without_failing_on_bad_utf8() -> None:
    error = exc.ServerError("bad", body=b"caf\xc3\xa9 \xff")
    assert error.body == "café \ufffd"


@pytest.mark.parametrize(
    "error",
    [
        exc.RateLimited("slow down", retry_after=12.5, status=429, method="GET", url="http://a/b"),
        exc.RecordRejected("bad email", record_key="c-1", reason="invalid_email", status=422),
        exc.AuthenticationError("denied", status=401, attempts=1),
        exc.FailureBudgetExceeded(failed=7, total=100, max_failure_ratio=0.05),
    ],
)
def test_errors_survive_pickling_with_their_fields(error: exc.ReliableApiError) -> None:
    # Airflow carries exceptions between processes by pickling them.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == str(error)


def test_failure_budget_message_names_the_numbers() -> None:
    error = exc.FailureBudgetExceeded(failed=7, total=100, max_failure_ratio=0.05)
    assert str(error) == "7 of 100 records (7.0%) were dead-lettered, more than max_failure_ratio=5.0%"
