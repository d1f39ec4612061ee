from __future__ import annotations

from datetime import timedelta

import pytest

from reliable_api import exceptions as exc

retry_policy = pytest.importorskip(
    "airflow.sdk.definitions.retry_policy", reason="retry policies need Airflow 3.3+"
)
RetryAction = retry_policy.RetryAction

from reliable_api.operators.retry_policy import ApiRetryPolicy  # noqa: E402


def test_rate_limited_retries_after_the_apis_retry_after() -> None:
    decision = ApiRetryPolicy().evaluate(exc.RateLimited("429", retry_after=42.0), 1, 3)
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay == timedelta(seconds=42)


def test_an_absurd_retry_after_is_capped() -> None:
    decision = ApiRetryPolicy(max_delay=600).evaluate(exc.RateLimited("429", retry_after=10**9), 1, 3)
    assert decision.retry_delay == timedelta(seconds=600)


def test_rate_limited_without_retry_after_uses_the_task_settings() -> None:
    assert ApiRetryPolicy().evaluate(exc.RateLimited("429"), 1, 3).action is RetryAction.DEFAULT


@pytest.mark.parametrize(
    "error",
    [
        exc.AuthenticationError("denied", status=401),
        exc.ConfigurationError("rate_limit must look like ..."),
        exc.FailureBudgetExceeded(failed=9, total=10, max_failure_ratio=0.05),
    ],
)
def test_permanent_errors_fail_without_retrying(error: exc.ReliableApiError) -> None:
    decision = ApiRetryPolicy().evaluate(error, 1, 5)
    assert decision.action is RetryAction.FAIL
    assert type(error).__name__ in (decision.reason or "")


@pytest.mark.parametrize(
    "error", [exc.ServerError("503", status=503), exc.NetworkError("reset"), ValueError("x")]
)
def test_other_errors_use_the_task_settings(error: Exception) -> None:
    assert ApiRetryPolicy().evaluate(error, 1, 3).action is RetryAction.DEFAULT


def test_serialization_round_trip() -> None:
    policy = ApiRetryPolicy(max_delay=120)
    assert ApiRetryPolicy.deserialize(policy.serialize()).max_delay == 120
