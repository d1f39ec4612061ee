"""``python -m reliable_api.deadletter list|show|replay|discard``: the DLQ from a shell.

The state DB is ``--state-url`` (or ``RELIABLE_API_STATE_URL``), else the Airflow connection
``--conn-id`` (default ``reliable_api_state``), else the SQLite file under ``$AIRFLOW_HOME``:
the same DB the tasks write. Needs no running Airflow.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.exceptions import ReliableApiError

if TYPE_CHECKING:
    from reliable_api.deadletter.queue import DeadLetter, DeadLetterQueue

#: Columns of ``list``: (heading, field, widest it may grow).
_LIST_COLUMNS = (
    ("id", "id", 8),
    ("integration", "integration", 24),
    ("record key", "record_key", 32),
    ("status", "status", 9),
    ("tries", "attempts", 5),
    ("error", "error_class", 24),
    ("http", "http_status", 4),
    ("last seen", "last_seen", 19),
)
#: Columns aligned to the right (numbers).
_NUMERIC = frozenset({"id", "attempts", "http_status"})


def build_parser() -> argparse.ArgumentParser:
    """The command line: a sub-command per action."""
    parser = argparse.ArgumentParser(prog="python -m reliable_api.deadletter", description=__doc__)
    parser.add_argument("--state-url", default=os.environ.get("RELIABLE_API_STATE_URL"))
    parser.add_argument("--conn-id", default=STATE_CONN_ID, help="Airflow connection of the state DB")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="entries, most recently failed first")
    listing.add_argument("--integration")
    listing.add_argument("--status", action="append", default=[], help="repeatable; default all")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--json", action="store_true", help="JSON Lines with every field")

    show = commands.add_parser("show", help="one entry with its payload")
    show.add_argument("id", type=int)

    replay = commands.add_parser("replay", help="stage entries for their load path and mark them replayed")
    replay.add_argument("--integration", required=True)
    replay.add_argument("--id", dest="ids", type=int, action="append", default=[])
    replay.add_argument("--out", required=True, help="directory (or URL) of the staged batch")

    discard = commands.add_parser("discard", help="give entries up: they are not replayed")
    discard.add_argument("ids", type=int, nargs="+")
    discard.add_argument("--by", default=None, help="who discards (default: your user name)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; print its result; return the exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        queue = _queue(args)
        return _run(args, queue)
    except (ReliableApiError, LookupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, queue: DeadLetterQueue) -> int:
    if args.command == "list":
        entries = queue.find(
            integration=args.integration, statuses=args.status, limit=args.limit, offset=args.offset
        )
        if args.json:
            for entry in entries:
                print(json.dumps(entry.to_dict()))
        else:
            _print_table(entries)
    elif args.command == "show":
        print(json.dumps(queue.get(args.id).to_dict(), indent=2))
    elif args.command == "replay":
        from reliable_api.deadletter.replay import stage_replay

        batch = stage_replay(
            queue,
            integration=args.integration,
            directory=args.out,
            replay_id=f"replay:cli/{getpass.getuser()}",
            ids=args.ids,
        )
        print(json.dumps({**batch.to_xcom(), "without_payload": batch.without_payload}))
    else:
        by = args.by or getpass.getuser()
        moved = queue.transition("discarded", by=by, ids=args.ids)
        print(f"discarded {moved} of {len(args.ids)} (only open or replayed entries can be)")
    return 0


def _queue(args: argparse.Namespace) -> DeadLetterQueue:
    from reliable_api.deadletter.queue import DeadLetterQueue
    from reliable_api.state.engine import make_engine, state_engine

    engine = make_engine(args.state_url) if args.state_url else state_engine(args.conn_id)
    return DeadLetterQueue(engine)


def _print_table(entries: Sequence[DeadLetter]) -> None:
    if not entries:
        print("(no dead letters match)")
        return
    rows = [[_cell(entry.to_dict()[name], cap) for _, name, cap in _LIST_COLUMNS] for entry in entries]
    widths = [
        max(len(heading), *(len(row[index]) for row in rows))
        for index, (heading, _, _) in enumerate(_LIST_COLUMNS)
    ]
    print(_line([heading for heading, _, _ in _LIST_COLUMNS], widths, numeric=False))
    print(_line(["-" * width for width in widths], widths, numeric=False))
    for row in rows:
        print(_line(row, widths))


def _line(cells: Sequence[str], widths: Sequence[int], *, numeric: bool = True) -> str:
    padded = (
        cell.rjust(width) if numeric and name in _NUMERIC else cell.ljust(width)
        for cell, width, (_, name, _) in zip(cells, widths, _LIST_COLUMNS, strict=True)
    )
    return "  ".join(padded).rstrip()


def _cell(value: Any, cap: int) -> str:
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":
        value = value[:19].replace("T", " ")  # an ISO time to the second
    text = "" if value is None else str(value)
    return text if len(text) <= cap else text[: cap - 1] + "…"
