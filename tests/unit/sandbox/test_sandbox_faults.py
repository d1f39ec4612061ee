from __future__ import annotations

import dataclasses
import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from reliable_api.testing.sandbox.config import SandboxConfig
from reliable_api.testing.sandbox.faults import (
    Fault,
    FaultPlan,
    fault_draw,
    refused_status,
    request_identity,
)

FAULTY = SandboxConfig(
    seed=11,
    p_500=0.1,
    p_502=0.1,
    p_503=0.1,
    p_slow=0.1,
    p_reset=0.1,
    p_malformed=0.1,
    p_lost_502=0.1,
    p_lost_stall=0.1,
    p_429=0.1,
)


def faults_by_identity(config: SandboxConfig, arrivals: list[str]) -> dict[str, list[Fault]]:
    plan = FaultPlan()
    seen: dict[str, list[Fault]] = {}
    for identity in arrivals:
        seen.setdefault(identity, []).append(plan.decide(config, identity))
    return seen


@given(st.lists(st.sampled_from(["A", "B", "C", "D"]), max_size=60), st.randoms(use_true_random=False))
def test_each_request_gets_the_same_fault_however_requests_interleave(
    arrivals: list[str], rng: random.Random
) -> None:
    shuffled = arrivals[:]
    rng.shuffle(shuffled)
    # Requests with the same identity keep their own order; only the interleaving differs.
    assert faults_by_identity(FAULTY, arrivals) == faults_by_identity(FAULTY, shuffled)


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    arrivals = [f"GET /v1/contacts/con_{n % 40:06d}" for n in range(400)]
    same = faults_by_identity(FAULTY, arrivals)
    assert same == faults_by_identity(FAULTY, arrivals)
    assert same != faults_by_identity(dataclasses.replace(FAULTY, seed=12), arrivals)


def test_a_fresh_plan_repeats_the_sequence() -> None:
    arrivals = ["x"] * 50
    assert faults_by_identity(FAULTY, arrivals) == faults_by_identity(FAULTY, arrivals)


def test_frequencies_follow_the_probabilities() -> None:
    plan = FaultPlan()
    counts = Counter(plan.decide(FAULTY, f"request {n}") for n in range(60_000))
    for fault in Fault:
        expected = 0.1  # each fault, and none for the rest
        assert abs(counts[fault] / 60_000 - expected) < 0.01, fault


def test_no_probabilities_no_faults() -> None:
    plan = FaultPlan()
    assert {plan.decide(SandboxConfig(), f"r{n}") for n in range(1000)} == {Fault.NONE}


def test_draws_are_uniform_numbers_in_the_unit_interval() -> None:
    draws = [fault_draw(1, "id", n) for n in range(10_000)]
    assert all(0 <= d < 1 for d in draws)
    assert 0.48 < sum(draws) / len(draws) < 0.52


def test_identity_prefers_the_idempotency_key_then_natural_keys() -> None:
    body = {"email": "a@x.io", "name": "A"}
    keyed = request_identity("POST", "/v1/contacts", [], "key-1", body)
    assert keyed == request_identity("POST", "/v1/contacts", [], "key-1", {"email": "b@x.io"})
    by_email = request_identity("POST", "/v1/contacts", [], None, body)
    assert by_email == request_identity("POST", "/v1/contacts", [], None, {"email": "a@x.io", "name": "B"})
    assert by_email != request_identity("POST", "/v1/contacts", [], None, {"email": "b@x.io"})
    batch = request_identity(
        "POST", "/v1/contacts/batch", [], None, {"records": [body, {"external_id": "E1"}]}
    )
    assert "email=a@x.io" in batch
    assert "external_id=E1" in batch


def test_identity_ignores_query_parameter_order() -> None:
    first = request_identity("GET", "/v1/contacts", [("page", "2"), ("per_page", "10")], None, None)
    assert first == request_identity("GET", "/v1/contacts", [("per_page", "10"), ("page", "2")], None, None)


def test_refused_keys_follow_the_shares_and_stay_refused() -> None:
    config = SandboxConfig(seed=5, fail_404_share=0.01, fail_422_share=0.02)
    keys = [f"user{n:05d}@example.com" for n in range(20_000)]
    statuses = Counter(refused_status(config, key) for key in keys)
    assert abs(statuses[404] / len(keys) - 0.01) < 0.003
    assert abs(statuses[422] / len(keys) - 0.02) < 0.004
    assert [refused_status(config, key) for key in keys] == [refused_status(config, key) for key in keys]
    other_seed = dataclasses.replace(config, seed=6)
    assert [refused_status(config, k) for k in keys] != [refused_status(other_seed, k) for k in keys]


def test_no_shares_refuse_nothing() -> None:
    assert {refused_status(SandboxConfig(), f"user{n}@example.com") for n in range(1000)} == {None}
