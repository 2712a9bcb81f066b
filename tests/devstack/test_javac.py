"""The dev stack's javac helper: builds once per content hash, names its log on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.elasticsearch import ElasticsearchSettings
from devstack.javac import LauncherBuildError, compile_java


def test_compile_java_builds_once_per_content_hash(tmp_path: Path) -> None:
    java_home = ElasticsearchSettings().java_home
    src = tmp_path / "src" / "demo"
    src.mkdir(parents=True)
    (src / "Hello.java").write_text("package demo; public class Hello { }\n")
    out = tmp_path / "out"
    first = compile_java(tmp_path / "src", [], out, java_home)
    assert (first / "demo" / "Hello.class").is_file()
    stamp = (first / "demo" / "Hello.class").stat().st_mtime_ns
    assert compile_java(tmp_path / "src", [], out, java_home) == first
    assert (first / "demo" / "Hello.class").stat().st_mtime_ns == stamp  # not recompiled

    (src / "Hello.java").write_text("package demo; public class Hello { int x; }\n")
    assert compile_java(tmp_path / "src", [], out, java_home) != first

    (src / "Hello.java").write_text("package demo; public class Hello { broken }\n")
    with pytest.raises(LauncherBuildError) as exc:
        compile_java(tmp_path / "src", [], out, java_home)
    log = Path(exc.value.message.rsplit("see ", 1)[1])
    assert "error" in log.read_text()
