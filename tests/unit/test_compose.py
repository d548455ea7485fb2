"""compose/ checked without Docker: the Compose Specification's schema, every `c360` command and `C360_*`
variable it uses, healthchecks, secrets, the connectors registered from repository files (the same as
`c360 connect` runs), the scheduler's jobs and the shipped segments file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from c360.connect import ConnectorConfig
from lakehouse.segments import load_segment_file
from tests.cli_commands import c360_lines, code_blocks, parse_c360, setting_exists
from tests.repository import repository_file

COMPOSE = repository_file("compose")
SCHEMA = repository_file("tests/schemas/compose-spec/compose-spec.json")
C360_IMAGE = "c360:latest"
CONFIG_FILE_VARIABLE = "C360_CONFIG"  # names the config file; not a setting itself


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())


def _c360_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == C360_IMAGE}


def test_the_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_what_docker_compose_would() -> None:
    """The check can fail: a misspelt key and a wrong type are refused."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert not validator.is_valid({"services": {"api": {"image": "c360", "helthcheck": {}}}})
    assert not validator.is_valid({"services": {"api": {"image": "c360", "ports": "8360"}}})


def test_every_c360_command_exists(compose: dict[str, Any]) -> None:
    commands = [s["command"] for s in _c360_services(compose).values() if "entrypoint" not in s]
    crontab = [line.split(maxsplit=5)[5] for line in _lines(COMPOSE / "crontab")]  # after the 5 time fields
    commands += c360_lines("\n".join(crontab))
    commands += [
        call for block in code_blocks((COMPOSE / "README.md").read_text()) for call in c360_lines(block)
    ]
    assert len(commands) >= 7
    paths = {" ".join(parse_c360(args)) for args in commands}  # raises for an unknown command or option
    assert {"setup", "ingest run", "serve", "sync run", "export segments", "trim", "sync vacuum"} <= paths


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_every_c360_variable_is_a_setting(compose: dict[str, Any]) -> None:
    texts = [p.read_text() for p in COMPOSE.rglob("*") if p.is_file() and p.suffix != ".json"]
    used = {name for text in texts for name in re.findall(r"\bC360_[A-Z0-9_]+", text)}
    assert {"C360_MONGO__USERNAME", "C360_KAFKA__SASL_PASSWORD_FILE", "C360_API__KEYS"} <= used
    unknown = sorted(v for v in used - {CONFIG_FILE_VARIABLE} if not setting_exists(v))
    assert unknown == []
    assert not setting_exists("C360_KAFKA__SASL_PASWORD_FILE")  # a typo is caught


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    one_shots = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shots == {"setup", "connect-register"}
    for name, service in services.items():
        check = service["healthcheck"]
        if name in one_shots:  # judged by its exit status: every dependant waits for its success
            assert check == {"disable": True}
            waits = {
                s["depends_on"][name]["condition"]
                for s in services.values()
                if name in s.get("depends_on", {})
            }
            assert waits <= {"service_completed_successfully"}, name
        else:
            assert check["test"] and not check.get("disable"), name


def test_secrets_come_from_files_and_nothing_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    text = (COMPOSE / "docker-compose.yml").read_text()
    assert not re.search(r"(?i)(password|secret|jaas_config)\s*[:=]\s*['\"]?[A-Za-z0-9]{6,}", text)
    for name, secret in compose["secrets"].items():
        assert secret == {"file": f"./secrets/{name}"}
    for name, service in compose["services"].items():
        for value in service.get("environment", {}).values():
            for path in re.findall(r"/run/secrets/(\w+)", str(value)):
                assert path in service.get("secrets", []), f"{name} reads secret {path} it is not given"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="make-secrets.sh needs openssl")
def test_make_secrets_provides_every_secret_and_variable(compose: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "compose"
    shutil.copytree(COMPOSE, copy, ignore=shutil.ignore_patterns("secrets", ".env"))
    subprocess.run(["sh", str(copy / "make-secrets.sh")], check=True, capture_output=True)
    for name in compose["secrets"]:
        assert (copy / "secrets" / name).read_text().strip(), name
    env = dict(line.split("=", 1) for line in (copy / ".env").read_text().splitlines())
    needed = set(re.findall(r"\$\{(\w+):\?", (COMPOSE / "docker-compose.yml").read_text()))
    assert needed == set(env)
    keys = json.loads(env["C360_API__KEYS"].strip("'"))
    assert setting_exists("C360_API__KEYS") and keys[0]["key_sha256"] != ""


def test_connectors_registered_by_connect_are_the_ones_c360_connect_runs(compose: dict[str, Any]) -> None:
    tomls = sorted((COMPOSE / "connectors").glob("*.toml"))
    assert [p.stem for p in tomls] == ["crm", "retail"]
    mounted = set(compose["services"]["connect"]["secrets"])
    for toml in tomls:
        connector = ConnectorConfig.load(toml)
        registered = json.loads(toml.with_suffix(".json").read_text())
        assert registered == connector.kafka_connect(), f"regenerate {toml.with_suffix('.json').name}"
        # what c360 relies on, in the form Kafka Connect runs
        assert registered["skipped.operations"] == "none"
        assert registered["decimal.handling.mode"] == "string"
        assert registered["value.converter.schemas.enable"] == "false"
        assert not any(key.startswith("offset.") for key in registered)
        for key, path in connector.secrets.items():
            assert registered[key] == f"${{dir:/run/secrets:{path.name}}}"
            assert path.name in mounted


def test_the_example_segments_file_is_valid() -> None:
    names = [s.name for s in load_segment_file(COMPOSE / "segments.yaml").segments]
    assert names == ["big_spenders", "newsletter", "lapsed"]
