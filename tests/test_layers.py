"""The layers of DESIGN.md hold (import-linter over the installed layout), and the check itself catches a
forbidden import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devstack import typecheck
from devstack.namespace import ROOT, build_view, package_dirs


def test_layer_contract_is_kept() -> None:
    result = typecheck.imports()
    assert result.returncode == 0, result.output
    assert "1 kept, 0 broken" in result.output


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        # services never import each other
        ("inferwatch/logger/probe.py", "from inferwatch.detectors import core\n", "inferwatch.logger is not allowed"),
        # a codec does not reach up into plumbing
        ("inferwatch/protocols/probe.py", "import inferwatch.delivery.spool\n", "inferwatch.protocols is not allowed"),
        # every module of inferwatch sits in a layer: a new one cannot slip past the contract
        ("inferwatch/ids_probe.py", "import inferwatch.errors\n", "not listed as layers"),
        ("inferwatch/settings_probe/__init__.py", "", "not listed as layers"),
    ],
    ids=["service-to-service", "codec-to-plumbing", "unlisted-module", "unlisted-package"],
)
def test_a_forbidden_import_breaks_the_contract(tmp_path: Path, module: str, source: str, broken: str) -> None:
    view = build_view(tmp_path / "view")
    (view / module).parent.mkdir(parents=True, exist_ok=True)
    (view / module).write_text(source)
    result = typecheck.imports(view=view, rebuild=False)
    assert result.returncode != 0
    assert broken in result.output, result.output


def test_a_foundation_importing_upward_is_caught_even_inside_a_function(tmp_path: Path) -> None:
    view = build_view(tmp_path / "view")
    errors = view / "inferwatch" / "errors.py"
    text = errors.read_text()
    errors.unlink()  # a link to the real file: replace it by a changed copy
    errors.write_text(text + "\n\ndef _probe():\n    from inferwatch.records import InferenceRecord  # lazily\n")
    result = typecheck.imports(view=view, rebuild=False)
    assert result.returncode != 0
    assert "inferwatch.errors is not allowed to import inferwatch.records" in result.output.replace("\n", " ")


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_service_folders_are_imported_only_through_the_namespace() -> None:
    """``logger/`` is ``inferwatch.logger``: importing it as ``logger`` works only from the checkout (pytest puts
    it on the path) and would break in an installed copy."""
    folders = {folder for name, folder in package_dirs().items() if name != "inferwatch"}
    offenders = [
        f"{path.relative_to(ROOT)}: {sorted(hit)}"
        for path in sorted(ROOT.rglob("*.py"))
        if not {".venv", "build", ".git"} & set(path.relative_to(ROOT).parts)
        and (hit := _top_level_imports(path) & folders)
    ]
    assert folders == {"logger", "detectors", "explainers", "consumers"}
    assert offenders == []
