"""Does a `c360 ...` command line, as docs and compose files write it, name a real command with real
options and well-typed values? Parsed by the CLI's own parser, never run."""

from __future__ import annotations

import re
import shlex
from typing import Any

import typer

from c360.cli import app
from c360.settings import Settings

# What a shell would substitute, e.g. $(date -u -d yesterday +%F): a value of the right shape.
_SUBSTITUTION = re.compile(r'"?\$\([^)]*\)"?')
# `c360` where a shell runs it: first on the line or after && ; |, after any VAR=value assignments.
_C360 = re.compile(r"(?:^\s*|(?:&&|;|\|)\s*)(?:[A-Z][A-Z0-9_]*=\S*\s+)*(?:\S*/)?c360 (?=[a-z-])")


class NotACommand(ValueError):
    """The CLI would refuse this command line."""


def parse_c360(args: list[str]) -> list[str]:
    """The command path (e.g. ["sync", "vacuum"]); raises NotACommand for what the CLI would refuse."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    while hasattr(command, "get_command"):  # a group: its options, then a sub-command
        context = _context(command, path, args)
        if context is None:
            return path
        rest = [*context._protected_args, *context.args]
        if not rest:
            raise NotACommand(f"`c360 {' '.join(path)}` needs a command")
        name, *args = rest
        found = command.get_command(context, name)
        if found is None:
            raise NotACommand(f"no command `c360 {' '.join([*path, name])}`")
        command, path = found, [*path, name]
    _context(command, path, args)
    return path


def _context(command: Any, path: list[str], args: list[str]) -> typer.Context | None:
    """The parsed command line; None for --help, a documented, valid call that ends there."""
    try:
        return command.make_context(" ".join(["c360", *path]), list(args))
    except typer.Exit as done:
        if done.exit_code != 0:
            raise NotACommand(f"c360 {' '.join([*path, *args])}: exit {done.exit_code}") from None
        return None
    except Exception as refused:  # the parser's usage errors (unknown option, bad value, missing one)
        raise NotACommand(f"c360 {' '.join([*path, *args])}: {refused}") from None


def c360_lines(text: str) -> list[list[str]]:
    """The arguments of every `c360 ...` call in shell text (comments dropped, continuations joined,
    command substitutions replaced by a date)."""
    calls = []
    for line in text.replace("\\\n", " ").splitlines():
        for match in _C360.finditer(line):
            rest = _SUBSTITUTION.sub("2026-01-01", line[match.end() :])
            rest = re.split(r"\s(?:&&|\|\|?|;|&|[12]?>>?)(?:\s|$)", rest)[0]  # up to an operator
            calls.append(shlex.split(rest, comments=True))
    return calls


def code_blocks(markdown: str) -> list[str]:
    """The fenced code blocks of a Markdown file (where commands to paste live)."""
    return re.findall(r"^```[a-z]*\n(.*?)^```", markdown, flags=re.S | re.M)


def setting_exists(variable: str) -> bool:
    """Whether C360_SECTION__KEY (or C360_KEY) names a setting of the settings tree."""
    parts = variable.removeprefix("C360_").lower().split("__")
    model: type = Settings
    for part in parts:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = fields[part].annotation  # a section's model, or a value's type at the end
    return True
