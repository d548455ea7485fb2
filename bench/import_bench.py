"""File import benchmark: `c360 import` of a large CSV against pyarrow's raw read of the same file, and the
import's peak resident memory.

One run: write a synthetic point-of-sale receipts CSV of the requested size under /tmp (c360/pos_dump.py,
never committed; kept for later runs with --keep), read it with pyarrow's CSV reader as fast as it goes
(the baseline, same run), read it as the importer does (all columns as bytes, one thread, rows as
dicts) and translate a sample of it (no store), then run `c360 import` as its own process into a
private mongod, sampling its resident memory every second, and check every card's receipts and total
against the generator's truth. See docs/BENCHMARKS.md, "File import".

    .venv/bin/python -m bench.import_bench --help
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import pyarrow.csv as pacsv
import typer
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from rich.console import Console

from bench.cpu import process_cpu_s
from bench.ingest_bench import RESULTS_DIR, _code_version, _machine, _servers
from c360.pos_dump import PosTruth, write_receipts
from ingest.file_reader import FileRef, Position, find_files, read_rows
from ingest.file_rows import translate_row
from ingest.mappings import FileSource, load_mapping_file

ROOT = Path(__file__).resolve().parents[1]
DOCS_FILE = ROOT / "docs" / "BENCHMARKS.md"
DOCS_END_MARKER = "<!-- import-results:end -->"
RSS_BAR_MB = 500
SOURCE = "pos_receipts"
TRANSLATE_SAMPLE_ROWS = 200_000

console = Console()
app = typer.Typer(add_completion=False, rich_markup_mode=None)


@dataclass
class Result:
    date: str
    machine: str
    code: str
    command: str
    file_mb: float
    rows: int
    cards: int
    batch_size: int
    raw_read_rows_per_s: float  # pyarrow.csv.open_csv, default options but the delimiter, all batches
    raw_read_mb_per_s: float
    reader_rows_per_s: float  # ingest.file_reader: bytes columns, one thread, rows as dicts
    translate_rows_per_s: float  # reader + translate_row on a sample, no store
    import_rows_per_s: float
    import_wall_s: float
    import_cpu_us_per_row: float
    mongod_cpu_us_per_row: float
    peak_rss_mb: float
    rss_mb_at_tenths: list[float]  # resident memory at each tenth of the rows: does it grow?
    check: str

    @property
    def bar_met(self) -> bool:
        return self.peak_rss_mb < RSS_BAR_MB


@app.command()
def main(
    size_mb: Annotated[int, typer.Option(help="Size of the generated CSV in MB (10^6 bytes).")] = 1_000,
    cards: Annotated[
        int, typer.Option(help="Loyalty cards (customers) the receipts are spread over.")
    ] = 200_000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 360,
    batch_size: Annotated[int, typer.Option(help="Rows per batch (ingest.batch_size).")] = 2_000,
    mongo_cache_gb: Annotated[float, typer.Option(help="WiredTiger cache of the private mongod.")] = 0.5,
    keep: Annotated[bool, typer.Option(help="Keep the generated file (and reuse one made before).")] = False,
    docs: Annotated[
        bool, typer.Option("--docs/--no-docs", help="Also append the row to docs/BENCHMARKS.md.")
    ] = False,
) -> None:
    """Generate (or reuse) the CSV, time the raw read and the import, report rows/s and peak memory."""
    command = f"python -m bench.import_bench {shlex.join(sys.argv[1:])}".rstrip()
    code = _code_version()  # what the run imports now, not what the tree holds when it ends
    folder = Path(tempfile.gettempdir()) / "c360-import-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"receipts_{size_mb}mb_{cards}_{seed}.csv"
    truth = _file(path, size_mb, cards, seed, keep)
    try:
        result = _run(path, truth, cards, batch_size, mongo_cache_gb, command, code)
    finally:
        if not keep:
            path.unlink(missing_ok=True)
            path.with_suffix(".truth.json").unlink(missing_ok=True)
    _report(result, docs)


def _file(path: Path, size_mb: int, cards: int, seed: int, keep: bool) -> PosTruth:
    sidecar = path.with_suffix(".truth.json")
    if keep and path.exists() and sidecar.exists():
        console.print(f"reusing {path}")
        return PosTruth(**json.loads(sidecar.read_text()))
    with console.status(f"writing {size_mb:,} MB of receipts to {path}"):
        truth = write_receipts(path, cards=cards, seed=seed, min_bytes=size_mb * 1_000_000)
    sidecar.write_text(json.dumps(asdict(truth)))
    return truth


def _run(
    path: Path, truth: PosTruth, cards: int, batch_size: int, cache_gb: float, command: str, code: str
) -> Result:
    size = path.stat().st_size
    delimited = pacsv.ParseOptions(delimiter=";")
    raw_s, raw_rows = _timed(lambda: sum(b.num_rows for b in pacsv.open_csv(path, parse_options=delimited)))
    assert raw_rows == truth.rows, (raw_rows, truth.rows)
    console.print(f"raw pyarrow read: {raw_rows / raw_s:,.0f} rows/s, {size / raw_s / 1e6:,.0f} MB/s")
    source = next(f for f in load_mapping_file().files if f.name == SOURCE)
    [ref] = find_files(str(path))
    reader_s, _ = _timed(
        lambda: sum(len(b.rows) for b in read_rows(ref, "csv", source.csv, Position(), batch_size, 1 << 20))
    )
    console.print(f"importer's reader: {truth.rows / reader_s:,.0f} rows/s")
    translate_s, sample = _timed(lambda: _translate_sample(ref, source, batch_size))
    console.print(f"reader + translation: {sample / translate_s:,.0f} rows/s (first {sample:,} rows)")

    run = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="c360-import-bench-")))
        uri, kafka = stack.enter_context(_servers(work, None, None, cache_gb))
        database = f"bench_{run}"
        env = {
            **os.environ,
            "C360_MONGO__URI": uri,
            "C360_MONGO__DATABASE": database,
            "C360_KAFKA__BOOTSTRAP_SERVERS": kafka,
            "C360_INGEST__BATCH_SIZE": str(batch_size),
        }
        mongod = _pid_of("mongod", uri.rsplit(":", 1)[1].split("/", 1)[0])
        mongod_cpu = process_cpu_s(mongod)
        with MongoClient(uri) as client:
            events = client[database].events
            started = time.monotonic()
            log = work / "import.log"
            with log.open("w") as output:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "c360.cli", "import", str(path), "--source", SOURCE, "--quiet"],
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
                samples = _sample_rss(proc, events)
            wall = time.monotonic() - started
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise SystemExit(f"c360 import failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
            console.print(log.read_text().strip())
            mongod_cpu = process_cpu_s(mongod) - mongod_cpu
            check = _check(client[database], truth)
    rows = truth.rows
    return Result(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=_machine(),
        code=code,
        command=command,
        file_mb=round(size / 1e6, 1),
        rows=rows,
        cards=cards,
        batch_size=batch_size,
        raw_read_rows_per_s=round(rows / raw_s),
        raw_read_mb_per_s=round(size / raw_s / 1e6, 1),
        reader_rows_per_s=round(rows / reader_s),
        translate_rows_per_s=round(sample / translate_s),
        import_rows_per_s=round(rows / wall),
        import_wall_s=round(wall, 1),
        import_cpu_us_per_row=round((usage.ru_utime + usage.ru_stime) / rows * 1e6, 1),
        mongod_cpu_us_per_row=round(mongod_cpu / rows * 1e6, 1),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
        rss_mb_at_tenths=_tenths(samples, rows),
        check=check,
    )


def _timed(work: Callable[[], int]) -> tuple[float, int]:
    started = time.monotonic()
    value = work()
    return time.monotonic() - started, value


def _translate_sample(ref: FileRef, source: FileSource, batch_size: int) -> int:
    done = 0
    for batch in read_rows(ref, "csv", source.csv, Position(), batch_size, 1 << 20):
        for row in batch.rows:
            translate_row(source, row, source.csv.encoding, 1 << 20)
        done += len(batch.rows)
        if done >= TRANSLATE_SAMPLE_ROWS:
            break
    return done


def _pid_of(name: str, port: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if Path(argv[0].decode()).name == name and port.encode() in argv:
                return int(entry.name)
    raise RuntimeError(f"no {name} process on port {port}")


def _sample_rss(proc: subprocess.Popen[bytes], events: Collection) -> list[tuple[int, float]]:
    """(events stored, resident MB of the import) every second until the import exits."""
    samples: list[tuple[int, float]] = []
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss_kb = int(status.split("VmRSS:", 1)[1].split()[0])
            samples.append((events.estimated_document_count(), rss_kb / 1024))
        except (OSError, IndexError):
            pass
        time.sleep(1)
    return samples


def _tenths(samples: list[tuple[int, float]], rows: int) -> list[float]:
    """The largest resident size seen up to each tenth of the rows."""
    out = []
    for tenth in range(1, 11):
        seen = [rss for stored, rss in samples if stored <= rows * tenth / 10]
        out.append(round(max(seen, default=0.0), 1))
    return out


def _check(db: Database, truth: PosTruth) -> str:
    """Every card's receipts and total against the generator's truth."""
    events = db.events.count_documents({})
    got = {}
    for doc in db.profiles.find({"merged_into": {"$exists": False}}, {"identifiers": 1, "stats.order": 1}):
        [card] = [i["value"] for i in doc["identifiers"].values() if i["type"] == "loyalty_id"]
        got[card] = (doc["stats"]["order"]["count"], doc["stats"]["order"]["amount"].to_decimal())
    want = {card: (n, Decimal(truth.pence[card]).scaleb(-2)) for card, n in truth.receipts.items()}
    wrong = sum(1 for card in want if got.get(card) != want[card])
    ok = events == truth.rows and wrong == 0 and len(got) == len(want)
    verdict = "ok" if ok else "FAILED"
    return f"{verdict}: {events:,} events for {truth.rows:,} rows, {wrong} of {len(want):,} cards wrong"


def _report(result: Result, docs: bool) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"import-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(
        json.dumps(asdict(result), indent=2)
    )
    for name, value in asdict(result).items():
        console.print(f"{name:>24}: {value}")
    verdict = "met" if result.bar_met else "MISSED"
    console.print(f"bar (peak RSS < {RSS_BAR_MB} MB): {verdict}")
    if docs:
        row = (
            f"| {result.date} | {result.code} | `{result.command}` "
            f"| {result.file_mb:,.0f} MB, {result.rows:,} rows "
            f"| {result.raw_read_rows_per_s:,.0f} ({result.raw_read_mb_per_s:,.0f} MB/s) "
            f"| {result.reader_rows_per_s:,.0f} | {result.translate_rows_per_s:,.0f} "
            f"| {result.import_rows_per_s:,.0f} ({result.import_wall_s:,.0f} s) "
            f"| {result.import_rows_per_s / result.raw_read_rows_per_s:.2%} "
            f"| {result.import_cpu_us_per_row:.0f} / {result.mongod_cpu_us_per_row:.0f} "
            f"| {result.peak_rss_mb:,.0f} MB ({', '.join(f'{v:.0f}' for v in result.rss_mb_at_tenths)}) "
            f"| {verdict}; {result.check} |"
        )
        text = DOCS_FILE.read_text()
        DOCS_FILE.write_text(text.replace(DOCS_END_MARKER, f"{row}\n{DOCS_END_MARKER}", 1))
        console.print(f"appended to {DOCS_FILE}")


if __name__ == "__main__":
    app()
