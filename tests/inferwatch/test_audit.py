"""``inferwatch audit`` exit status: a --request-id that nothing has is a failure scripts can test; an empty search
by other criteria is not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from inferwatch import audit
from inferwatch.cli import build_parser
from inferwatch.sinks import open_sink
from tests.consumers.kafka_data import logger_records


def _run(store: str, *argv: str) -> tuple[int, str]:
    args = build_parser("audit").parse_args(["audit", "--store", store, *argv])
    out = io.StringIO()
    return audit.run(args, out), out.getvalue()


def test_a_request_id_nothing_has_exits_1_and_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'audit.db'}"
    sink = open_sink(store)
    sink.write(logger_records(2, "known"))
    sink.close()

    code, out = _run(store, "--request-id", "known-1")
    assert code == 0 and "known-1" in out and "1 record(s)" in out
    code, out = _run(store, "--request-id", "known-1", "--json")
    assert code == 0 and '"id":"known-1"' in out

    for extra in ((), ("--json",)):
        code, out = _run(store, "--request-id", "nobody", *extra)
        assert code == 1 and out == ""
        assert f"no record or result with request id 'nobody' in {store}" in capsys.readouterr().err

    code, out = _run(store, "--model", "no-such-model")
    assert code == 0 and out == "no matching records\n"
