"""mypy and import-linter over the installed layout (``python -m devstack.typecheck [mypy|imports]``).

Both tools walk directories, so they run inside ``build/namespace-view`` (see ``devstack.namespace``) with the
project's own configuration; paths in their output are mapped back to the files in the repository.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.namespace import ROOT, build_view, real_paths

VIEW = ROOT / "build" / "namespace-view"


@dataclass(frozen=True)
class CheckResult:
    """A tool's exit status and its output, paths already pointing into the repository."""

    returncode: int
    output: str


def _run(argv: list[str], *, view: Path, root: Path) -> CheckResult:
    done = subprocess.run(argv, cwd=view, capture_output=True, text=True, timeout=900, check=False)
    return CheckResult(done.returncode, real_paths(done.stdout + done.stderr, view, root))


def mypy(root: Path = ROOT, view: Path = VIEW) -> CheckResult:
    """``mypy`` (strict, the ``[tool.mypy]`` config) over ``inferwatch`` as installed plus the dev tooling."""
    build_view(view, root)
    config = str(root / "pyproject.toml")
    argv = [sys.executable, "-m", "mypy", "--config-file", config, "--cache-dir", str(root / ".mypy_cache")]
    return _run(argv, view=view, root=root)


def imports(root: Path = ROOT, view: Path = VIEW, *, rebuild: bool = True) -> CheckResult:
    """import-linter's contracts (``[tool.importlinter]``) over ``inferwatch`` as installed. ``rebuild=False``
    checks ``view`` as it is (a test adds a module to it to see the contract catch a forbidden import)."""
    if rebuild:
        build_view(view, root)
    lint = Path(sys.executable).with_name("lint-imports")
    argv = [str(lint), str(root / "pyproject.toml"), "--no-cache", "--no-logo"]
    return _run(argv, view=view, root=root)


def main(argv: list[str] | None = None) -> int:
    """Run the named checks (default both); print their output; exit non-zero if any failed."""
    names = (argv if argv is not None else sys.argv[1:]) or ["mypy", "imports"]
    checks = {"mypy": mypy, "imports": imports}
    unknown = [n for n in names if n not in checks]
    if unknown:
        sys.stderr.write(f"unknown check(s) {', '.join(unknown)}: choose from {', '.join(checks)}\n")
        return 2
    status = 0
    for name in names:
        result = checks[name]()
        sys.stdout.write(result.output)
        status = status or result.returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
