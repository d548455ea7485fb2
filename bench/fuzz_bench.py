"""The long ingest fuzz run: hundreds of thousands of hostile records (tests/fuzz_inputs.py) through
translate(), counting escaped exceptions and timing every record.

    .venv/bin/python -m bench.fuzz_bench --examples 200000

Prints the examples run, the exceptions that escaped (with the first few records that raised), the
outcomes by reason, and the slowest records (wall ms, and CPU ms measured the same way); writes the
same to bench/results/fuzz-<time>.json. The suite runs the same properties with a few hundred
examples (tests/unit/test_fuzz_ingest.py).
"""

from __future__ import annotations

import gc
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.records import DeadLetter, Skipped, SourceRecord, translate
from tests.fuzz_inputs import MAPPINGS, MAX_BYTES, arbitrary, mutated
from tests.unit.test_fuzz_ingest import check_result

RESULTS = Path(__file__).with_name("results")
console = Console()


def main(
    examples: Annotated[int, typer.Option(help="Records to generate and translate.")] = 200_000,
) -> None:
    """Fuzz translate() with hostile records (a fifth arbitrary bytes, the rest mutated samples);
    report escaped exceptions and the slowest records."""
    outcomes: Counter[str] = Counter()
    escaped: list[dict[str, Any]] = []
    slowest: list[tuple[float, float, str]] = []
    progress = Progress(
        TextColumn("fuzzing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    task = progress.add_task("fuzz", total=examples)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(arbitrary, *[mutated()] * 4))
    def one(record: SourceRecord) -> None:
        gc.disable()  # a collection of hypothesis's heap is not the record's cost: it runs after
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            result = translate(record, MAPPINGS, MAX_BYTES)
        except Exception as exc:
            gc.enable()
            escaped.append({"error": repr(exc)[:500], "record": _describe(record)})
            outcomes["escaped"] += 1
        else:
            wall_ms = (time.perf_counter() - wall) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
            gc.enable()
            slowest.append((wall_ms, cpu_ms, _describe(record, full=wall_ms > 50 or cpu_ms > 50)))
            if len(slowest) > 200:
                slowest.sort(reverse=True)
                del slowest[20:]
            try:  # checked as the suite checks it, outside the timing
                check_result(result)
            except Exception as exc:  # an event the writer could not plan or encode
                escaped.append({"error": repr(exc)[:500], "record": _describe(record), "stage": "writer"})
                outcomes["escaped"] += 1
                return
            outcomes[_outcome(result)] += 1
        progress.advance(task)

    started = time.monotonic()
    with progress:
        one()
    seconds = time.monotonic() - started
    slowest.sort(reverse=True)
    run = sum(outcomes.values())
    report = {
        "at": datetime.now(UTC).isoformat(),
        "examples": run,
        "escaped": len(escaped),
        "max_wall_ms": round(slowest[0][0], 2) if slowest else None,
        "max_cpu_ms": round(max((s[1] for s in slowest), default=0), 2),
        "seconds": round(seconds, 1),
        "outcomes": dict(outcomes.most_common()),
        "slowest": [{"wall_ms": round(w, 2), "cpu_ms": round(c, 2), "record": d} for w, c, d in slowest[:10]],
        "escaped_records": escaped[:10],
        "command": f"python -m bench.fuzz_bench --examples {examples}",
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"fuzz-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    console.print(
        f"{run:,} records in {seconds:,.0f} s: {len(escaped)} escaped exceptions; slowest record "
        f"{report['max_wall_ms']} ms wall, max {report['max_cpu_ms']} ms CPU; outcomes {report['outcomes']}"
    )
    console.print(f"report: {path}")
    if escaped:
        console.print(escaped[:3])
        raise typer.Exit(1)


def _outcome(result: object) -> str:
    if isinstance(result, DeadLetter):
        return f"dead letter: {result.reason}"
    return "skipped" if isinstance(result, Skipped) else "event"


def _describe(record: SourceRecord, full: bool = False) -> str:
    """The record for the report; a slow one whole, so that it can be replayed."""
    value = record.value or b""
    shown = value if full and len(value) <= 20_000 else value[:160]
    return f"{record.topic} key={record.key!r:.60} value({len(value)} bytes)={shown!r}"


if __name__ == "__main__":
    typer.run(main)
