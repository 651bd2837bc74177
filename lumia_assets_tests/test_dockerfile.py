"""The user-code image, checked without a Docker daemon: the Dockerfile parsed into its instructions and held to the
rules of a production image (pinned Python, non-root, no dev dependencies, the code server as entry point), and
the .dockerignore keeping the tests, benchmarks and local state out."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in joined.splitlines() if line.strip()
    ]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((REPO / "Dockerfile").read_text())


def _only(dockerfile: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile if instruction == name]


def test_the_base_image_is_a_pinned_python_the_project_supports(dockerfile) -> None:
    (base,) = _only(dockerfile, "FROM")
    match = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim-\w+", base)
    assert match, f"FROM {base}: pin an exact python:X.Y.Z-slim-<debian> image"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert match.group(1) in SpecifierSet(requires)


def test_it_installs_the_package_without_dev_dependencies_and_runs_as_a_non_root_user(dockerfile) -> None:
    installs = [run for run in _only(dockerfile, "RUN") if "pip install" in run]
    assert len(installs) == 1 and re.search(r"pip install --no-cache-dir \.(\s|$)", installs[0]), installs
    assert "[dev]" not in " ".join(installs) and "-e " not in installs[0]
    names = [instruction for instruction, _ in dockerfile]
    (user,) = _only(dockerfile, "USER")
    assert user not in {"root", "0"} and names.index("USER") > names.index("RUN")  # after the last root step
    assert names.index("USER") < names.index("CMD")


def test_the_default_command_serves_the_code_location_on_the_exposed_port(dockerfile) -> None:
    (default,) = _only(dockerfile, "CMD")
    command = json.loads(default)  # the exec form: signals reach the server
    # no ENTRYPOINT: the Helm chart's args and the run launcher's `dagster api execute_run` replace the command
    assert _only(dockerfile, "ENTRYPOINT") == []
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("--module-name") + 1] == "lumia_assets.definitions"
    assert _only(dockerfile, "EXPOSE") == [command[command.index("--port") + 1]]


def test_only_the_package_is_copied_in_and_the_rest_is_ignored(dockerfile) -> None:
    copied = {source for arguments in _only(dockerfile, "COPY") for source in arguments.split()[:-1]}
    assert copied == {"pyproject.toml", "setup.py", "README.md", "LICENSE", "lumia_assets", "workspace.yaml",
                      "dagster.yaml"}  # fmt: skip
    assert all((REPO / source).exists() for source in copied)
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".dagster_home", "lumia_assets_tests", "bench"} <= ignored
