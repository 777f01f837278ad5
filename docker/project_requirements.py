"""Print the third-party dependencies of the project's packages, one requirement a line.

    python project_requirements.py edge-agent/pyproject.toml cloud/pyproject.toml > requirements.txt

The Dockerfiles install these first, in a layer that only changes with the pyproject files or
constraints.txt, and the project's own sources afterwards with --no-deps, so that editing the
code does not download and unpack the whole dependency tree again. Dependencies on the packages
named in the given files are left out, because they are installed from source.
"""

from __future__ import annotations

import re
import sys
import tomllib


def requirement_name(requirement: str) -> str:
    """Return the normalized distribution name at the start of a PEP 508 requirement."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    if match is None:
        raise ValueError(f"cannot read a package name from requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def main(paths: list[str]) -> int:
    """Print the requirements of every pyproject file in ``paths``; return the exit status."""
    if not paths:
        print("usage: project_requirements.py PYPROJECT...", file=sys.stderr)
        return 2
    projects = []
    for path in paths:
        with open(path, "rb") as file:
            projects.append(tomllib.load(file)["project"])
    own = {requirement_name(project["name"]) for project in projects}
    seen: set[str] = set()
    for project in projects:
        for requirement in project.get("dependencies", []):
            name = requirement_name(requirement)
            if name in own or requirement in seen:
                continue
            seen.add(requirement)
            print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
