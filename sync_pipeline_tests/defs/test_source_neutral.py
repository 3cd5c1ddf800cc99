"""Dagster wiring and the CLI know project systems only through ``ProjectSource``: no branch on which system an
entity uses."""

import ast
from pathlib import Path

import pytest

import sync_pipeline.cli as cli_pkg
import sync_pipeline.defs as defs_pkg

SYSTEMS = {"harvest", "redmine", "csv", "toggl"}
DEFS = Path(defs_pkg.__file__).parent
CLI = Path(cli_pkg.__file__).parent
# `sync-pipeline sandbox …` addresses a sandbox server by its name (harvest, xero, qbo), not an entity's source
CLI_NOT_ABOUT_SOURCES = {"sandbox.py"}
CLIENT_MODULES = {"sync_pipeline.connectors.harvest", "sync_pipeline.connectors.redmine",
                  "sync_pipeline.connectors.csv_exports", "sync_pipeline.connectors.csv_folder"}
WIRING = {"resources.py", "sources.py"}  # where the systems' clients are configured and turned into sources


def _names_a_system(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value in SYSTEMS
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_a_system(e) for e in node.elts)
    return isinstance(node, ast.Attribute) and node.attr in ("source", "system")


def source_branches(code: str, filename: str = "<code>") -> list[str]:
    """Comparisons and ``match`` statements that decide on the project system's kind, as ``file:line``."""
    found = []
    for node in ast.walk(ast.parse(code, filename)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_a_system(s) for s in sides) and any(
                    isinstance(s, ast.Constant | ast.Tuple | ast.List | ast.Set) for s in sides):
                found.append(f"{filename}:{node.lineno}")
        elif isinstance(node, ast.Match) and _names_a_system(node.subject):
            found.append(f"{filename}:{node.lineno}")
    return found


def client_imports(code: str, filename: str = "<code>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(code, filename)):
        if isinstance(node, ast.ImportFrom) and node.module in CLIENT_MODULES:
            found.append(f"{filename}:{node.lineno} imports {node.module}")
    return found


def _defs_files() -> list[Path]:
    return sorted(DEFS.rglob("*.py"))


def test_no_defs_module_branches_on_the_source_kind():
    found = [b for f in _defs_files() for b in source_branches(f.read_text(encoding="utf-8"), str(f.relative_to(DEFS)))]
    assert found == [], ("Dagster assets and sensors branch on the project system; ask the ProjectSource what it "
                         f"supports instead (connectors/project.py): {found}")


def test_no_cli_command_branches_on_the_source_kind():
    files = sorted(f for f in CLI.rglob("*.py") if f.name not in CLI_NOT_ABOUT_SOURCES)
    found = [b for f in files for b in source_branches(f.read_text(encoding="utf-8"), str(f.relative_to(CLI)))]
    assert found == [], ("CLI commands branch on the project system; ask the ProjectSource what it supports "
                         f"instead (connectors/project.py): {found}")


def test_no_defs_module_but_the_wiring_imports_a_project_system_client():
    found = [i for f in _defs_files() if f.name not in WIRING
             for i in client_imports(f.read_text(encoding="utf-8"), str(f.relative_to(DEFS)))]
    assert found == [], f"use defs.sources.project_source instead: {found}"


@pytest.mark.parametrize("code", [
    'if entity.source == "harvest":\n    pass',
    'if entity.source != "csv":\n    pass',
    'x = 1 if entity.source in ("redmine", "csv") else 2',
    'if "harvest" == e.source:\n    pass',
    'if source.system == "harvest":\n    pass',
    'match entity.source:\n    case "csv":\n        pass',
])
def test_the_scan_finds_a_branch_on_the_source_kind(code):
    assert source_branches(code) == ["<code>:1"]


@pytest.mark.parametrize("code", [
    'if source.supports("change_feed"):\n    pass',
    'meta = {"source": source.system}',
    'if kind == "invoice":\n    pass',
])
def test_the_scan_leaves_capability_checks_alone(code):
    assert source_branches(code) == []
