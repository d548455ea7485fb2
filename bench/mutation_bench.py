"""Mutation score of the pure rooms (profiles/, identity/, ingest/normalize.py) under the unit tests alone.

mutmut (configured in pyproject.toml, [tool.mutmut]) changes one operator, constant or call at a time in
those files and runs the unit tests that reach the changed function; a mutant the tests do not notice
*survived*. The score is killed / (checked - equivalent): a mutant listed in
bench/mutation_equivalents.toml behaves exactly like the original (the reason is written beside it) and
no test could kill it. Prints a table per module and writes JSON to bench/results/.

    .venv/bin/python -m bench.mutation_bench                     # every mutant (long: see docs/BENCHMARKS.md)
    .venv/bin/python -m bench.mutation_bench 'ingest.normalize*' # one module's mutants (scored alone)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.toml")
RESULTS = ROOT / "bench" / "results"
MUTMUT = Path(sys.executable).with_name("mutmut")
DETECTED = {"killed", "timeout", "segfault", "suspicious"}
UNDETECTED = {"survived", "no tests"}
BAR = 0.85


def equivalents() -> dict[str, str]:
    """Mutant name -> why it cannot be told apart from the original."""
    data = tomllib.loads(EQUIVALENTS.read_text())
    return {item["mutant"]: item["why"] for item in data.get("equivalent", [])}


def statuses() -> dict[str, str]:
    """Every mutant mutmut knows, with its last status ('not checked' when it was not run)."""
    run = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True)
    found = {}
    for line in run.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status
    return found


def module_of(mutant: str) -> str:
    return mutant.split(".x", 1)[0].removesuffix(".")


def score(found: dict[str, str], excluded: dict[str, str]) -> dict[str, object]:
    per_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in found.items():
        if status == "not checked":
            continue
        kind = "equivalent" if name in excluded else status
        per_module[module_of(name)][kind] += 1
    total: Counter[str] = sum(per_module.values(), Counter())

    def rate(counts: Counter[str]) -> float | None:
        detected = sum(counts[s] for s in DETECTED)
        judged = detected + sum(counts[s] for s in UNDETECTED)
        return detected / judged if judged else None

    return {
        "modules": {m: dict(c) | {"score": rate(c)} for m, c in sorted(per_module.items())},
        "total": dict(total) | {"score": rate(total)},
        "survivors": sorted(n for n, s in found.items() if s in UNDETECTED and n not in excluded),
        "equivalent": {n: why for n, why in excluded.items() if n in found},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutants", nargs="*", help="mutant name globs (default: all)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel test processes")
    parser.add_argument("--no-run", action="store_true", help="score the last run's results only")
    args = parser.parse_args()
    if not args.no_run:
        # mutmut copies the tree into mutants/ once and keeps what is there: start afresh, so that
        # today's code and tests are what runs. A run of some mutants scores those alone.
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        command = [str(MUTMUT), "run", "--max-children", str(args.max_children), *args.mutants]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    report = score(statuses(), equivalents())
    print(f"{'module':<32}{'killed':>8}{'survived':>10}{'no tests':>10}{'equivalent':>12}{'score':>8}")
    for module, counts in [*report["modules"].items(), ("total", report["total"])]:
        value = counts["score"]
        shown = "-" if value is None else f"{value:.1%}"
        killed = sum(counts.get(s, 0) for s in DETECTED)
        print(
            f"{module:<32}{killed:>8}{counts.get('survived', 0):>10}{counts.get('no tests', 0):>10}"
            f"{counts.get('equivalent', 0):>12}{shown:>8}"
        )
    total = report["total"]["score"]
    verdict = "pass" if total is not None and total >= BAR else "fail"
    print(f"bar: at least {BAR:.0%} of non-equivalent mutants killed: {verdict}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"mutation-{stamp}.json"
    path.write_text(json.dumps({"at": stamp, "bar": BAR, "verdict": verdict, **report}, indent=1))
    print(f"written: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
