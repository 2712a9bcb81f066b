"""The committed Open Inference Protocol classes are what ``python -m devstack.protos`` generates from the
committed ``.proto``, and that code runs on the protobuf runtime installed here (TensorFlow pins it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import __version__ as protobuf_version

from devstack import protos
from devstack.namespace import ROOT

pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) generates the classes")


def test_regenerating_gives_the_committed_files(tmp_path: Path) -> None:
    fresh = protos.generate(tmp_path)
    for rel, new in zip(protos.GENERATED, fresh, strict=True):
        assert (ROOT / rel).read_bytes() == new.read_bytes(), f"{rel} drifted: run python -m devstack.protos"
    assert protos.stale() == []
    assert "GRPCInferenceServiceStub" not in fresh[0].read_text()  # message classes only, no gRPC stubs


def test_generated_code_needs_no_newer_runtime_than_installed() -> None:
    code = (ROOT / protos.GENERATED[0]).read_text()
    found = re.search(r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),", code)
    assert found is not None
    runtime = tuple(int(part) for part in protobuf_version.split(".")[:2])
    assert (int(found[1]), int(found[2])) <= runtime


def test_the_proto_is_the_official_one_with_its_licence() -> None:
    text = (ROOT / protos.PROTO).read_text()
    assert text.startswith("// Copyright 2023 The KServe Authors.\n//\n// Licensed under the Apache License")
    assert "\npackage inference;\n" in text and "message ModelInferRequest" in text


def test_a_stale_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / protos.PROTO).parent.mkdir(parents=True)
    (tmp_path / protos.PROTO).write_bytes((ROOT / protos.PROTO).read_bytes())
    protos.generate(tmp_path, root=tmp_path)
    (tmp_path / protos.GENERATED[1]).write_text("# edited by hand\n")
    assert protos.stale(tmp_path) == [protos.GENERATED[1]]
