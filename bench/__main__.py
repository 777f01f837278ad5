"""``python -m bench``: run the benchmark and write the Markdown and JSON reports.

Reports go to ``bench-results/bench-<time>.md`` and ``.json``; a full run also copies the
Markdown to ``docs/benchmarks.md``. ``--smoke`` runs every step for a second or so, once.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from bench import report, runner
from bench.servers import REPO_ROOT
from bench.settings import FULL, SMOKE
from bench.targets import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="run every step briefly, once, to check the script works")
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "bench-results",
                        help="folder for reports, logs and the agent-only venv (default: bench-results)")
    parser.add_argument("--docs", type=Path, default=None,
                        help="copy the Markdown report here (default: docs/benchmarks.md for a full run, nowhere for --smoke)")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="write the Markdown report of an earlier JSON report next to it, and run nothing")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        results["targets"] = evaluate(results)
        markdown_path = args.render.with_suffix(".md")
        markdown_path.write_text(report.render(results) + "\n")
        print(f"wrote {markdown_path}")
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    profile = SMOKE if args.smoke else FULL
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = args.output_dir.resolve()
    results = runner.run(profile, output / f"run-{stamp}")
    results["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results["command"] = "python -m bench --smoke" if args.smoke else "make bench"
    results["targets"] = evaluate(results)

    json_path = output / f"bench-{stamp}.json"
    markdown_path = output / f"bench-{stamp}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str))
    markdown = report.render(results)
    markdown_path.write_text(markdown + "\n")
    docs = args.docs or (None if args.smoke else REPO_ROOT / "docs" / "benchmarks.md")
    if docs is not None:
        docs.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(markdown_path, docs)
    print(markdown)
    print(f"\nreports: {markdown_path} and {json_path}" + (f"; copied to {docs}" if docs else ""))
    if results["errors"]:
        print(f"sections that failed: {', '.join(results['errors'])}; their errors are above and in the report", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
