"""Great Expectations row-level quarantine: ours against the GX provider's way, in one run.

Builds ``--rows`` normalized contacts from the sandbox generator (every value as a string, an
absent field as null: about 30% of the rows then fail the suite below), then, each side in a
fresh subprocess so that peak memory is its own:

- peer: what ``GXValidateDataFrameOperator`` (airflow-provider-great-expectations 1.0.0) does in
  ``execute``: an ephemeral context, a pandas data source, dataframe asset and whole-dataframe
  batch definition named after the task, the suite added to the context, a validation definition
  run with ``result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["id"]}``,
  ``result.describe_dict()``; then the rejected keys read from that dict and the rows split;
- ours: :func:`reliable_api.validation.expectations.evaluate` and ``split``.

Timed: from the list of row dicts to good rows and rejected rows (the peer's ``pd.DataFrame(rows)``
included). Not timed: generating the rows and importing GX and pandas. The rejected key sets must
be identical; the script exits 1 if they are not.

    python bench/gx_validation.py                 # 1,000,000 rows
    python bench/gx_validation.py --rows 100000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reliable_api.testing.sandbox.data import DISPOSABLE_DOMAINS, generate_contacts

FIELDS = (
    "id", "external_id", "first_name", "last_name", "email", "phone",
    "company_id", "birthday", "signup_date", "updated_at",
)  # fmt: skip
KEY = "id"
TASK_ID = "validate_contacts"
#: The mirrored provider's user agent (great_expectations_provider.common.constants).
PEER_USER_AGENT = "Apache Airflow GX Operator / 1.0.0a3"
PEER_RESULT_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": [KEY]}


@dataclass(frozen=True)
class Spec:
    """An expectation as a contract gives it: GX class name and kwargs."""

    type: str
    kwargs: Mapping[str, Any]


EMAIL = r"^[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$"
DISPOSABLE = "|".join(domain.replace(".", r"\.") for domain in DISPOSABLE_DOMAINS)
SUITE = (
    Spec("ExpectTableRowCountToBeBetween", {"min_value": 1, "max_value": 10_000_000}),
    Spec("ExpectTableColumnsToMatchSet", {"column_set": list(FIELDS), "exact_match": True}),
    Spec("ExpectColumnValuesToNotBeNull", {"column": "id"}),
    Spec("ExpectColumnValuesToBeUnique", {"column": "id"}),
    Spec("ExpectColumnValuesToMatchRegex", {"column": "external_id", "regex": r"^CRM-\d{7}$"}),
    Spec("ExpectColumnValueLengthsToBeBetween", {"column": "first_name", "min_value": 1, "max_value": 100}),
    Spec("ExpectColumnValuesToNotBeNull", {"column": "last_name"}),
    Spec("ExpectColumnValuesToNotBeNull", {"column": "email"}),
    Spec("ExpectColumnValuesToMatchRegex", {"column": "email", "regex": EMAIL}),
    Spec("ExpectColumnValuesToNotMatchRegex", {"column": "email", "regex": f"@(?:{DISPOSABLE})$"}),
    Spec("ExpectColumnValuesToBeUnique", {"column": "email"}),
    Spec("ExpectColumnValuesToNotBeNull", {"column": "phone"}),
    Spec("ExpectColumnValuesToMatchRegex", {"column": "phone", "regex": r"^\+[1-9]\d{6,14}$"}),
    Spec("ExpectColumnValuesToNotBeNull", {"column": "company_id"}),
    Spec("ExpectColumnValuesToMatchRegex", {"column": "company_id", "regex": r"^cmp_\d{6}$"}),
    Spec("ExpectColumnValuesToNotBeNull", {"column": "birthday"}),
    Spec("ExpectColumnValuesToMatchStrftimeFormat", {"column": "birthday", "strftime_format": "%Y-%m-%d"}),
    Spec("ExpectColumnValuesToMatchRegex", {"column": "signup_date", "regex": r"^\d{4}-\d{2}-\d{2}$"}),
)  # fmt: skip


def normalized_contacts(n: int) -> list[dict[str, Any]]:
    """The sandbox's contacts with every value as a string and an absent field as null."""
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [
        {name: None if record.get(name) is None else str(record[name]) for name in FIELDS}
        for record in generate_contacts(n, seed=5, now=now)
    ]


def peer(rows: list[dict[str, Any]]) -> tuple[set[str], int]:
    """GXValidateDataFrameOperator.execute, then the split a downstream task would do."""
    import great_expectations as gx
    import pandas as pd

    dataframe = pd.DataFrame(rows)  # configure_dataframe
    gx_context = gx.get_context(mode="ephemeral", user_agent_str=PEER_USER_AGENT)  # load_data_context
    batch_definition = (
        gx_context.data_sources.add_pandas(name=TASK_ID)
        .add_dataframe_asset(name=TASK_ID)
        .add_batch_definition_whole_dataframe(name=TASK_ID)
    )  # _get_pandas_batch_definition, on a fresh context
    suite = gx_context.suites.add_or_update(  # configure_expectations, as the provider's example DAG
        gx.ExpectationSuite(
            name=TASK_ID, expectations=[getattr(gx.expectations, s.type)(**s.kwargs) for s in SUITE]
        )
    )
    validation_definition = gx_context.validation_definitions.add_or_update(  # run_validation_definition
        validation=gx.ValidationDefinition(name=TASK_ID, suite=suite, data=batch_definition)
    )
    result = validation_definition.run(
        batch_parameters={"dataframe": dataframe}, result_format=PEER_RESULT_FORMAT
    )
    result_dict = result.describe_dict()
    rejected = {
        str(item[KEY])
        for expectation in result_dict["expectations"]
        for item in expectation["result"].get("unexpected_index_list") or ()
    }
    good = [row for row in rows if row[KEY] not in rejected]
    bad = [row for row in rows if row[KEY] in rejected]
    return rejected, len(good) + len(bad)


def ours(rows: list[dict[str, Any]]) -> tuple[set[str], int]:
    from reliable_api.validation.expectations import evaluate

    result = evaluate(rows, SUITE, [KEY])
    good, bad = result.split(rows)
    return {str(failure.key) for failure in result.rejected}, len(good) + len(bad)


def side(name: str, rows: int, out: Path) -> None:
    """Run one side in this process and write its figures and rejected keys to ``out``."""
    # Import costs are not timed: both sides pay GX's and pandas'; ours also imports Airflow
    # (through reliable_api.exceptions), which a task has imported long before it validates.
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401

    import reliable_api.validation.expectations  # noqa: F401

    batch = normalized_contacts(rows)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    rejected, split = (peer if name == "peer" else ours)(batch)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert split == rows, f"{name} split {split} of {rows} rows"
    out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak / 1024,
                "before_mb": before / 1024,
                "rejected": sorted(rejected),
            }
        )
    )


def measure(name: str, rows: int, workdir: Path) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    command = [sys.executable, __file__, "--side", name, "--rows", str(rows), "--out", str(out)]
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


def report(name: str, rows: int, figures: Mapping[str, Any]) -> None:
    print(
        f"{name:<44} {figures['seconds']:8.2f} s {rows / figures['seconds']:>10,.0f} rows/s "
        f"peak {figures['peak_mb']:7,.0f} MB (rows and imports alone {figures['before_mb']:,.0f} MB)"
    )


def digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--side", choices=("peer", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        side(args.side, args.rows, args.out)
        return
    print(f"{args.rows:,} normalized contacts, {len(SUITE)} expectations, each side in its own process")
    with tempfile.TemporaryDirectory(prefix="gx_bench_") as workdir:
        theirs = measure("peer", args.rows, Path(workdir))
        mine = measure("ours", args.rows, Path(workdir))
    report("peer: GXValidateDataFrameOperator's way", args.rows, theirs)
    report("ours: evaluate() + split()", args.rows, mine)
    print(f"ratio (peer seconds / ours): {theirs['seconds'] / mine['seconds']:.1f}x")
    same = theirs["rejected"] == mine["rejected"]
    share = len(mine["rejected"]) / args.rows
    print(
        f"rejected keys: peer {len(theirs['rejected']):,} ({digest(theirs['rejected'])}), "
        f"ours {len(mine['rejected']):,} ({digest(mine['rejected'])}), {share:.1%} of rows: "
        f"{'identical' if same else 'DIFFERENT'}"
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
