"""Known vulnerabilities of the installed packages, checked offline against a vendored advisory set.

Neither of pip-audit's services works from this project's machines: the package index here answers
``/pypi/<name>/<version>/json`` (where PyPI lists a release's vulnerabilities) with 404, so
``pip-audit -s pypi`` skips every package and still reports "No known vulnerabilities found",
and OSV's API is not reachable. So the PyPA advisory database (the data both services serve) is
vendored as ``.ci/advisories.json`` and read here:

    python .ci/advisories.py check              # exit 1 when an installed release has a fixed advisory
    python .ci/advisories.py refresh CHECKOUT   # rebuild the JSON from a pypa/advisory-database checkout

A finding whose advisory names a fixed release fails the run; one without a fix is reported only.
The set is as fresh as its last refresh (its date is printed on every run).
"""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

DATA = Path(__file__).with_name("advisories.json")


def normalize(name: str) -> str:
    """The package name as the advisory database spells it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def affected(version: str, advisory: dict[str, Any]) -> bool:
    """Whether ``version`` is inside one of the advisory's ranges or in its list of versions."""
    if version in advisory.get("versions", ()):
        return True
    try:
        current = Version(version)
    except InvalidVersion:
        return False
    for introduced, fixed in advisory.get("ranges", ()):
        try:
            if Version(introduced) <= current and (fixed is None or current < Version(fixed)):
                return True
        except InvalidVersion:
            continue
    return False


def findings(installed: dict[str, str], advisories: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each (package, version, advisory) where the installed release is affected."""
    found = []
    for name, version in sorted(installed.items()):
        for advisory in advisories.get(name, ()):
            if affected(version, advisory):
                fixes = sorted({fixed for _, fixed in advisory.get("ranges", ()) if fixed})
                found.append({"package": name, "version": version, "id": advisory["id"], "fixed_in": fixes})
    return found


def check() -> int:
    """Print the findings for this environment; 1 when one has a fixed release, else 0."""
    data = json.loads(DATA.read_text())
    installed = {normalize(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}
    found = findings(installed, data["advisories"])
    print(f"advisories: {data['source']}; {len(installed)} installed packages checked")
    for item in found:
        fix = f"fixed in {', '.join(item['fixed_in'])}" if item["fixed_in"] else "no fix released"
        print(f"  {item['package']} {item['version']}: {item['id']} ({fix})")
    fixable = [item for item in found if item["fixed_in"]]
    summary = f"{len(found)} known vulnerabilities, {len(fixable)} with a fix"
    print(summary if found else "no known vulnerabilities")
    return 1 if fixable else 0


def refresh(checkout: Path, source: str) -> None:
    """Rebuild :data:`DATA` from the ``vulns/`` of an advisory-database checkout."""
    import yaml

    advisories: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((checkout / "vulns").glob("*/*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for entry in doc.get("affected", []):
            package = entry.get("package", {})
            if package.get("ecosystem") != "PyPI":
                continue
            ranges = []
            for span in entry.get("ranges", []):
                if span.get("type") != "ECOSYSTEM":
                    continue
                start = None
                for event in span.get("events", []):
                    if "introduced" in event:
                        start = str(event["introduced"])
                    elif "fixed" in event and start is not None:
                        ranges.append((start, str(event["fixed"])))
                        start = None
                if start is not None:
                    ranges.append((start, None))
            advisories.setdefault(normalize(package["name"]), []).append(
                {"id": doc["id"], "ranges": ranges, "versions": [str(v) for v in entry.get("versions", [])]}
            )
    DATA.write_text(json.dumps({"source": source, "advisories": advisories}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["refresh"]:
        refresh(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else str(sys.argv[2]))
    elif sys.argv[1:] == ["check"]:
        sys.exit(check())
    else:
        sys.exit(__doc__)
