"""Regenerate the Open Inference Protocol message classes (``python -m devstack.protos [--check]``).

``inferwatch/protocols/oip/open_inference_grpc.proto`` is the official file (kserve/open-inference-protocol,
``specification/protocol/``); the ``*_pb2.py`` / ``*_pb2.pyi`` beside it are generated from it by the protoc that
``grpcio-tools`` bundles (message classes only: no ``--grpc_python_out``, so no gRPC stubs) and committed, so
the package needs only the ``protobuf`` runtime. The proto path is given from the repository root, which makes
the descriptor's file name ``inferwatch/protocols/oip/...`` (no clash with another ``inference`` file in the
process-wide descriptor pool) and the classes' module the one they are imported as.

The pin matters: ``grpcio-tools==1.71.2`` bundles protoc 29.0, whose code asks for a protobuf runtime >= 5.29.0
(its ``ValidateProtobufRuntimeVersion`` line); later releases write code for protobuf 6, which TensorFlow's pin
excludes. ``--check`` regenerates into a temporary directory and fails if the committed files differ.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from devstack.namespace import ROOT

PROTO = Path("inferwatch/protocols/oip/open_inference_grpc.proto")
"""The proto file, relative to the repository root (also its name inside the generated descriptor)."""
GENERATED = (PROTO.with_name(PROTO.stem + "_pb2.py"), PROTO.with_name(PROTO.stem + "_pb2.pyi"))
"""The committed generated files, relative to the repository root."""


class ProtocError(RuntimeError):
    """``grpc_tools.protoc`` failed or is not installed; the message holds its output."""


def generate(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the generated ``GENERATED`` files for ``root``'s proto under ``out`` (same relative paths)."""
    argv = [sys.executable, "-m", "grpc_tools.protoc", f"-I{root}", f"--python_out={out}", f"--pyi_out={out}"]
    done = subprocess.run([*argv, str(root / PROTO)], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        hint = " (pip install -e '.[dev]' installs grpcio-tools)" if "No module named" in done.stderr else ""
        raise ProtocError(f"protoc failed{hint}: {done.stderr.strip()}")
    return [out / rel for rel in GENERATED]


def stale(root: Path = ROOT) -> list[Path]:
    """The committed generated files that differ from a fresh generation (empty when all are current)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp), root)
        return [rel for rel, new in zip(GENERATED, fresh, strict=True) if _read(root / rel) != new.read_bytes()]


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    """Regenerate in place, or with ``--check`` report stale files and exit 1 if there are any."""
    args = argv if argv is not None else sys.argv[1:]
    if args not in ([], ["--check"]):
        sys.stderr.write("usage: python -m devstack.protos [--check]\n")
        return 2
    if args:
        out_of_date = stale()
        for rel in out_of_date:
            sys.stdout.write(f"{rel} is not what {PROTO} generates: run python -m devstack.protos\n")
        return 1 if out_of_date else 0
    for path in generate(ROOT):
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
