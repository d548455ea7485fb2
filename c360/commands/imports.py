"""`c360 import`: batch files (CSV, Parquet, JSON Lines, gzip) through the mappings into profiles, once
(`c360 import PATH...`) or from a watched drop folder (`c360 import watch DIR`)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from c360.bootstrap import UnknownFileSource, file_import
from c360.drop_folder import watch
from c360.file_import import FileOutcome
from c360.progress import progress_bar
from c360.service import start_service
from c360.settings import load_settings
from ingest.file_reader import FileReadError, find_files
from ingest.file_rows import RowDeadLetter


class _FilesByDefault(TyperGroup):
    """`c360 import PATH ...` means `c360 import files PATH ...`; `watch` is the other sub-command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["files", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_FilesByDefault,
    help="Import batch files through the mapping file's `files` sources: `c360 import PATH... --source "
    "NAME`, or `c360 import watch DIR --source NAME` for a drop folder.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)  # one line per file and per summary, however narrow the terminal
Source = Annotated[
    str, typer.Option("--source", "-s", help="The entry of the mapping file's `files` that maps these files.")
]
Quiet = Annotated[bool, typer.Option(help="No progress bar (for logs and schedulers).")]


@app.command("files")
def import_files(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories (their files, not subdirectories) or quoted globs ('drops/*.csv.gz')."
        ),
    ],
    source: Source,
    max_bad_rows: Annotated[
        int | None,
        typer.Option(
            min=0, help="Exit with status 1 when more rows than this were dead-lettered (all are read)."
        ),
    ] = None,
    from_start: Annotated[
        bool,
        typer.Option(
            help="Read files imported before again, e.g. after fixing the mapping: their refused rows get a "
            "second chance, rows imported before count once."
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Import files, directories or globs (the default: `c360 import PATH` is `c360 import files PATH`).

    Each row becomes the event (or, for a `state` source, the customer's state) its mapping says, through
    the same writer as Kafka records. A file imported before is skipped; one that changed (checksum) is
    read again and only its new rows change anything; an import stopped or killed midway resumes after
    its last durable batch. Bad rows go to the dead-letter topic with their file, row and column. Exits
    with status 1 when a file cannot be read, or with more dead letters than --max-bad-rows.

    Examples:

        c360 import samples/pos_daily_2026-11-19.parquet --source pos_daily
        c360 import 'drops/bureau_*.csv.gz' --source bureau --max-bad-rows 0
    """
    stop = start_service(None)
    settings = load_settings()
    started = time.monotonic()
    try:
        refs = [ref for path in paths for ref in find_files(path)]
    except FileReadError as exc:
        raise typer.BadParameter(str(exc), param_hint="PATHS") from None
    if not refs:
        raise typer.BadParameter(f"no files in {', '.join(paths)}", param_hint="PATHS")
    outcomes: list[FileOutcome] = []
    earlier_rows = 0  # of the files done, for the bar's running total
    with progress_bar(not quiet, unit="rows") as bar:
        task = bar.add_task(source, total=None)

        def show(outcome: FileOutcome) -> None:
            bar.update(task, completed=earlier_rows + outcome.rows, description=_name(outcome.uri))

        try:
            with file_import(settings, source, on_batch=show) as importer:
                for ref in refs:
                    if stop.is_set():
                        break
                    outcomes.append(importer.import_file(ref, stop, from_start=from_start))
                    earlier_rows += outcomes[-1].rows
        except UnknownFileSource as exc:
            raise typer.BadParameter(str(exc), param_hint="--source") from None
    for outcome in outcomes:
        console.print(_file_line(outcome), highlight=False)
    console.print(_summary(source, outcomes, time.monotonic() - started), highlight=False)
    examples = [letter for o in outcomes for letter in o.examples][:5]
    if examples:
        console.print(f"first dead letters (all are in the topic {settings.kafka.dead_letter_topic}):")
        for letter in examples:
            console.print(
                f"  {_where(letter)}: {letter.reason}: {letter.message}", highlight=False, markup=False
            )
    bad = sum(sum(o.dead_letters.values()) for o in outcomes)
    unreadable = [o for o in outcomes if o.error is not None]
    if stop.is_set():
        console.print("stopped: the next run resumes after the last durable batch")
    if unreadable or (max_bad_rows is not None and bad > max_bad_rows):
        raise typer.Exit(1)


@app.command("watch")
def watch_folder(
    folder: Annotated[
        str, typer.Argument(help="The drop folder (a directory or a quoted glob), local or a URI.")
    ],
    source: Source,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks at the folder.")] = 10.0,
    settle: Annotated[
        float, typer.Option(min=0, help="Seconds a file must keep its size and time before it is read.")
    ] = 30.0,
) -> None:
    """Import each file that lands in FOLDER until Ctrl-C or SIGTERM, for daily drops.

    A file is read once it has kept its size and modification time for --settle seconds; names writers
    use while writing (`x.csv.part`, `x.csv.tmp`, `.x.csv`) are never read, so write under such a name
    and rename when done. Files imported before are not read again; a changed file is, and only its new
    rows count. One line is printed per imported file.

    Example (a scheduler or service runs this; it stops cleanly on SIGTERM):

        c360 import watch /srv/drops/bureau --source bureau --interval 60
    """
    stop = start_service(None)
    settings = load_settings()
    console.print(f"watching {folder} for {source} files (every {interval:g} s, settled after {settle:g} s)")
    try:
        with file_import(settings, source) as importer:
            watch(
                importer,
                folder,
                None,
                stop,
                interval_s=interval,
                settle_s=settle,
                on_file=lambda o: console.print(_file_line(o), highlight=False),
            )
    except UnknownFileSource as exc:
        raise typer.BadParameter(str(exc), param_hint="--source") from None


def _name(uri: str) -> str:
    return Path(uri).name


def _file_line(o: FileOutcome) -> str:
    if o.error is not None:
        return f"{o.uri}: {o.why}, stopped after {o.rows:,} rows: {o.error.removeprefix(o.uri + ': ')}"
    bad = sum(o.dead_letters.values())
    return (
        f"{o.uri}: {o.why}; {o.rows:,} rows: {o.applied:,} applied, {o.duplicates:,} duplicates, "
        f"{bad:,} dead letters, {o.suppressed:,} suppressed"
    )


def _summary(source: str, outcomes: list[FileOutcome], seconds: float) -> str:
    rows = sum(o.rows for o in outcomes)
    reasons: Counter[str] = Counter()
    for o in outcomes:
        reasons.update(o.dead_letters)
    by_reason = f" ({', '.join(f'{r} {n:,}' for r, n in sorted(reasons.items()))})" if reasons else ""
    failed = sum(1 for o in outcomes if o.error is not None)
    return (
        f"{source}: {len(outcomes)} files ({failed} unreadable), {rows:,} rows: "
        f"{sum(o.applied for o in outcomes):,} applied, {sum(o.duplicates for o in outcomes):,} duplicates, "
        f"{sum(reasons.values()):,} dead letters{by_reason}, {sum(o.suppressed for o in outcomes):,} "
        f"suppressed; {seconds:.1f} s, {rows / seconds if seconds > 0 else 0:,.0f} rows/s"
    )


def _where(letter: RowDeadLetter) -> str:
    row = letter.row
    if row.number is None:
        return f"{_name(row.file)}, a malformed row"
    place = f"line {row.line}" if row.line is not None else f"row {row.number}"
    if row.row_group is not None:
        place += f" (row group {row.row_group})"
    column = "the whole row" if letter.field == "$" else f"column {letter.field}"
    return f"{_name(row.file)} {place}, {column}"
