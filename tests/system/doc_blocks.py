"""The fenced code blocks of the README and the how-to pages, and how each kind is checked."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "README.md", *sorted((REPO / "docs" / "howto").glob("*.md")))
#: What the docs point at, and what the tests put there instead.
DEMO_CRM = "127.0.0.1:8099"
DEMO_MARKETING = "127.0.0.1:8098"
DEMO_WAREHOUSE = "/tmp/warehouse.db"
#: Shell commands the docs show that the suite cannot run here (Docker, installs, the demo
#: itself); ``make`` targets are checked to exist instead.
NOT_RUN = ("cd ", "cp ", "docker compose ", "pip install ")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_DAG_ID = re.compile(r"""\bDAG\(\s*["'](\w+)["']""")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text."""

    path: Path
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        """``README.md:123``, for messages."""
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def dag_ids(self) -> list[str]:
        """The DAGs a Python block defines (a DAG file), else ``[]`` (a snippet)."""
        return _DAG_ID.findall(self.text) if self.language == "python" else []


def blocks() -> list[Block]:
    """Every fenced block of :data:`DOCS`, in order."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Block(path, line, match.group(1), match.group(2)))
    return found


def shell_lines(block: Block) -> list[str]:
    """The commands of a shell block, comments and blank lines left out."""
    lines = []
    for raw in block.text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line.split("  #", 1)[0].strip())
    return lines


def exported(line: str) -> tuple[str, str] | None:
    """``(name, value)`` of an ``export NAME=value`` line, else ``None``."""
    if not line.startswith("export "):
        return None
    [assignment] = shlex.split(line[len("export ") :])
    name, value = assignment.split("=", 1)
    return name, value


def localized(text: str, substitutions: dict[str, str]) -> str:
    """``text`` with the demo's addresses and paths replaced by the test's own."""
    for old, new in substitutions.items():
        text = text.replace(old, new)
    return text
