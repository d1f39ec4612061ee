"""Precision and recall per kind over 210 synthetic histories: never below the figures in docs/.

The figures are those of docs/monitoring.md ("How well the checks find anomalies"); a change to a
check or a threshold that loses any of them fails here. ``python -m
reliable_api.monitoring.evaluation 30`` prints the table.
"""

from __future__ import annotations

import pytest

from reliable_api.monitoring.evaluation import Evaluation, evaluate
from reliable_api.monitoring.synthetic import PLANTED, generate

#: kind -> (recall, precision) committed in docs/monitoring.md, for 30 histories per kind.
COMMITTED = {
    "frequency_spike": (1.0, 1.0),
    "success_objective": (0.85, 1.0),
    "slow": (0.93, 1.0),
    "volume_drop": (0.93, 1.0),
    "quota_burn": (0.65, 1.0),
    "runs_stopped": (0.96, 0.96),
}
#: Normal histories judged with no anomaly at all: their daily and weekly cycles alert no one.
NORMAL_QUIET = 0.96


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return evaluate(30)


def test_at_least_200_histories_are_judged(evaluation: Evaluation) -> None:
    assert evaluation.histories == 210
    assert set(evaluation.scores) == set(PLANTED) == set(COMMITTED)


@pytest.mark.parametrize("kind", sorted(COMMITTED))
def test_recall_and_precision_hold_the_committed_figures(evaluation: Evaluation, kind: str) -> None:
    recall, precision = COMMITTED[kind]
    score = evaluation.scores[kind]
    assert score.recall >= recall, f"{kind}: recall {score.recall:.3f} < {recall}"
    assert score.precision >= precision, f"{kind}: precision {score.precision:.3f} < {precision}"


def test_normal_seasonality_alerts_no_one(evaluation: Evaluation) -> None:
    assert evaluation.normal_quiet / evaluation.normal >= NORMAL_QUIET, evaluation.false_kinds


def test_histories_are_reproducible_and_plant_what_they_say() -> None:
    first, again = generate(7, "volume_drop"), generate(7, "volume_drop")
    assert [run.counts for run in first.runs] == [run.counts for run in again.runs]
    assert (first.runs[-1].records, first.planted) == (0, "volume_drop")
    assert (first.now - first.runs[0].started_at).days >= 29
    with pytest.raises(ValueError, match="unknown planted kind 'nope'"):
        generate(1, "nope")
