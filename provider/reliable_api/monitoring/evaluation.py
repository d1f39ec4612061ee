"""Precision and recall of the checks per anomaly kind, over synthetic histories.

Recall of a kind: the share of histories planted with it whose judgement names it. Precision:
of all the times a kind fired, the share in histories planted with it, or with a kind that
causes it too (:data:`CONSEQUENCES`: ten times the runs also burn ten times the quota). Normal
histories (nothing planted) count in every kind's precision, and their own figure is the share
judged with no anomaly at all: the seasonality of a normal history must not alert.

``python -m reliable_api.monitoring.evaluation [histories per kind]`` prints the table.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass

from reliable_api.monitoring.anomalies import judge
from reliable_api.monitoring.synthetic import PLANTED, generate

#: Kinds a planted kind legitimately sets off as well.
CONSEQUENCES = {"frequency_spike": {"quota_burn"}}


@dataclass(frozen=True)
class KindScore:
    """How one kind did: planted, found among those, fired in all, fired where it should."""

    kind: str
    planted: int
    found: int
    fired: int
    fired_rightly: int

    @property
    def recall(self) -> float:
        """Found / planted (1.0 when nothing was planted)."""
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        """Fired rightly / fired (1.0 when it never fired)."""
        return self.fired_rightly / self.fired if self.fired else 1.0


@dataclass(frozen=True)
class Evaluation:
    """Per planted kind scores, and how many normal histories stayed quiet."""

    scores: dict[str, KindScore]
    normal: int
    normal_quiet: int
    histories: int
    false_kinds: dict[str, int]

    def table(self) -> str:
        """A Markdown table of the figures."""
        lines = ["| kind | planted | recall | fired | precision |", "|---|---:|---:|---:|---:|"]
        for score in self.scores.values():
            figures = f"{score.recall:.3f} | {score.fired} | {score.precision:.3f}"
            lines.append(f"| `{score.kind}` | {score.planted} | {figures} |")
        lines.append(
            f"| normal (no alert) | {self.normal} | {self.normal_quiet / max(1, self.normal):.3f} | | |"
        )
        return "\n".join(lines)


def evaluate(per_kind: int, *, first_seed: int = 0) -> Evaluation:
    """Judge ``per_kind`` histories of each planted kind and as many normal ones."""
    cases: list[str | None] = [*PLANTED, None]
    found: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    rightly: Counter[str] = Counter()
    false_kinds: Counter[str] = Counter()
    quiet = 0
    seed = first_seed
    for planted in cases:
        for _ in range(per_kind):
            history = generate(seed, planted)
            seed += 1
            kinds = {a.kind for a in judge(history.integration, history.runs, now=history.now).anomalies}
            allowed = {planted, *CONSEQUENCES.get(planted or "", set())} if planted else set()
            if planted in kinds:
                found[planted] += 1
            if planted is None and not kinds:
                quiet += 1
            for kind in kinds:
                fired[kind] += 1
                if kind in allowed:
                    rightly[kind] += 1
                else:
                    false_kinds[kind] += 1
    scores = {kind: KindScore(kind, per_kind, found[kind], fired[kind], rightly[kind]) for kind in PLANTED}
    return Evaluation(scores, per_kind, quiet, per_kind * len(cases), dict(false_kinds))


def main(argv: list[str]) -> None:
    """Print the evaluation table for ``argv[0]`` histories per kind (default 30)."""
    per_kind = int(argv[0]) if argv else 30
    result = evaluate(per_kind)
    print(f"{result.histories} histories, {per_kind} per planted kind and {per_kind} normal")
    print(result.table())
    if result.false_kinds:
        print("false alerts by kind:", result.false_kinds)


if __name__ == "__main__":
    main(sys.argv[1:])
