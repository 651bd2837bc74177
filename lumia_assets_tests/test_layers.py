"""The import graph runs one way (../shared/DESIGN.md): cli → defs → operations → engine → sources / warehouse →
ground. A module imports its own layer and the layers below it, never one above; sources and warehouse never
import each other; only the layers that declare or run Dagster objects import dagster; the simulator is a test
and demo tool that no production module imports, except the ``lumia sim`` and ``lumia demo`` commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lumia_assets"
GROUND = {"settings", "selection", "calendars", "frames", "clock", "adjustments"}
RANKS = {"ground": 0, "sources": 1, "warehouse": 1, "engine": 2, "operations": 3, "defs": 4, "cli": 5, "facade": 6}
DAGSTER_LAYERS = {"operations", "defs", "cli"}
SIM_IMPORTERS = {"lumia_assets.cli", "lumia_assets.commands.demo", "lumia_assets.sim.__main__"}  # the entry points


def layer(module: str) -> str:
    """The layer of a ``lumia_assets`` module."""
    parts = module.split(".")
    if module == "lumia_assets":
        return "facade"  # the package re-exports the public read API (``lumia_assets.read_prices``, ...)
    top = parts[1] if len(parts) > 1 else ""
    if top in GROUND:
        return "ground"
    if top in {"cli", "commands"}:
        return "cli"
    if top in {"definitions", "defs"}:
        return "defs"
    if top == "instance":
        return "operations"
    if top in {"sources", "warehouse", "engine", "operations", "sim"}:
        return top
    return "ground"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a layer rule, as ``importer -> imported (rule)``."""
    found = []
    for importer, imported in edges.items():
        mine = layer(importer)
        for target in sorted(imported):
            if target.split(".")[0] == "dagster" and mine not in DAGSTER_LAYERS | {"sim"}:
                found.append(f"{importer} -> {target} (only operations, defs and cli import dagster)")
            if not target.startswith("lumia_assets.") or target not in edges:
                continue
            theirs = layer(target)
            if theirs == "sim" or mine == "sim":
                if mine != theirs and importer not in SIM_IMPORTERS and not (mine == "sim" and theirs == "ground"):
                    found.append(f"{importer} -> {target} (the simulator stands apart)")
            elif RANKS[theirs] > RANKS[mine] or (RANKS[theirs] == RANKS[mine] and theirs != mine):
                found.append(f"{importer} -> {target} ({mine} may not import {theirs})")
    return found


def test_the_import_graph_runs_one_way() -> None:
    assert violations(graph()) == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("lumia_assets.engine.feeds", "lumia_assets.defs.prices.assets"),
        ("lumia_assets.settings", "lumia_assets.sources.policy"),
        ("lumia_assets.sources.http", "lumia_assets.warehouse.store"),
        ("lumia_assets.warehouse.store", "dagster"),
        ("lumia_assets.defs.prices.assets", "lumia_assets.sim.simulator"),
    ],
)
def test_a_back_door_is_reported(importer: str, imported: str) -> None:
    edges = graph()
    edges[importer] = {*edges[importer], imported}
    assert any(line.startswith(f"{importer} -> {imported} ") for line in violations(edges))
