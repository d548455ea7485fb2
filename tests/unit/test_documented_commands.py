"""What README.md and docs/ tell a user to type exists: every `c360` command and flag (parsed by the CLI's
own parser, not run), every `make` target, every `python -m` module, every `C360_*` variable, and the
sample `c360.toml` loads."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import pytest
from pydantic import BaseModel

from c360.settings import Settings
from tests.cli_commands import c360_lines, code_blocks, parse_c360, setting_exists
from tests.repository import repository_file

DOCUMENTS = [
    "README.md",
    "compose/README.md",
    *sorted(f"docs/{p.name}" for p in repository_file("docs").glob("*.md")),
]
CONFIG_FILE_VARIABLE = "C360_CONFIG"  # names the config file; not a setting itself
REFUSED_EXAMPLE = "C360_MONGO__URL"  # CONFIGURATION.md shows that a misspelt variable is refused


def _blocks(document: str) -> list[str]:
    return code_blocks(repository_file(document).read_text())


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_documented_c360_command_and_flag_exists(document: str) -> None:
    for block in _blocks(document):
        for args in c360_lines(block):
            parse_c360(args)  # raises NotACommand, naming the command line


def test_the_readme_documents_the_commands_users_start_with() -> None:
    calls = {" ".join(parse_c360(args)) for block in _blocks("README.md") for args in c360_lines(block)}
    assert {"dev up", "ingest run", "serve", "sync run", "setup", "connect", "erase"} <= calls


def test_a_misspelt_flag_is_caught() -> None:
    with pytest.raises(ValueError, match="No such option"):
        parse_c360(c360_lines("c360 ingest run --metric-port 9360")[0])


def test_every_documented_make_target_and_module_exists() -> None:
    makefile = repository_file("Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    text = "\n".join(block for document in DOCUMENTS for block in _blocks(document))
    for target in re.findall(r"(?:^|\s)make ([a-z-]+)", text, flags=re.M):
        assert target in targets, f"make {target}"
    for module in re.findall(r"python -m ([\w.]+)", text):
        assert importlib.util.find_spec(module) is not None, f"python -m {module}"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_documented_c360_variable_is_a_setting(document: str) -> None:
    names = set(re.findall(r"\bC360_[A-Z0-9_]*[A-Z0-9]", repository_file(document).read_text()))
    names -= {CONFIG_FILE_VARIABLE, REFUSED_EXAMPLE}
    assert sorted(n for n in names if not setting_exists(n)) == []


def test_the_sample_config_file_loads() -> None:
    configuration = repository_file("docs/CONFIGURATION.md").read_text()
    (sample,) = re.findall(r"^```toml\n(.*?)^```", configuration, flags=re.S | re.M)
    settings = Settings.model_validate(tomllib.loads(sample))
    assert settings.kafka.sasl_mechanism == "SCRAM-SHA-512" and settings.api.keys[0].key_sha256


def _setting_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names += _setting_names(nested, f"{prefix}{name}.")
        else:
            names.append(prefix + name)
    return names


def test_configuration_documents_every_setting() -> None:
    """A setting added without a row in CONFIGURATION.md's tables is a setting users cannot find."""
    configuration = repository_file("docs/CONFIGURATION.md").read_text()
    missing = [n for n in _setting_names(Settings) if f"`{n}`" not in configuration]
    assert missing == []
