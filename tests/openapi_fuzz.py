"""OpenAPI checks and schemathesis fuzzing shared by every service's ``test_*_openapi.py`` / ``test_*_fuzz.py``.

``check_openapi`` validates a document against the OpenAPI meta-schema (schemathesis' validator; the machine has no
``openapi_spec_validator``) plus what the meta-schema cannot see: every ``{param}`` of a path declared as a path
parameter, every POST with a request body and its error answers. ``fuzz`` sends schemathesis' positive and
negative cases of every operation to an in-process ASGI app: no 5xx, and answers conform to declared schemas.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from inferwatch.protocols.schemas import ERROR

BODY_METHODS = frozenset({"post", "put", "patch"})


def openapi_problems(doc: dict[str, Any], error_statuses: tuple[str, ...] = ("400", "413", "422")) -> list[str]:
    """What is wrong with ``doc`` beyond the meta-schema: undeclared path parameters, POSTs without a body or
    without their error answers (``error_statuses``, with the error body's schema)."""
    problems = []
    for path, item in doc["paths"].items():
        templated = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in item.items():
            if method == "parameters":
                continue
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            if templated != declared:
                problems.append(f"{method.upper()} {path}: path parameters {sorted(declared)} != {sorted(templated)}")
            if method not in BODY_METHODS:
                continue
            if not op.get("requestBody", {}).get("content"):
                problems.append(f"{method.upper()} {path}: no request body")
            for status in error_statuses:
                schema = op["responses"].get(status, {}).get("content", {}).get("application/json", {}).get("schema")
                if schema != ERROR:
                    problems.append(f"{method.upper()} {path}: no {status} answer with the error body")
    return problems


def check_openapi(doc: dict[str, Any], error_statuses: tuple[str, ...] = ("400", "413", "422")) -> OpenApiSchema:
    """``doc`` (as JSON would carry it) validated; its schemathesis schema."""
    doc = json.loads(json.dumps(doc))
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # the OpenAPI meta-schema of the document's version
    problems = openapi_problems(doc, error_statuses)
    assert not problems, "\n".join(problems)
    return schema


def fuzz(
    schema: OpenApiSchema,
    *,
    path_parameters: dict[str, str] | None = None,
    max_examples: int = 60,
    checks: tuple[Callable[..., Any], ...] = (),
) -> list[str]:
    """Fuzz every operation of ``schema`` (loaded ``from_asgi``): positive and negative cases, with path
    parameters generated and, when given, fixed to ``path_parameters`` (so bodies reach the served model).
    The labels of the operations fuzzed; a failing case raises (hypothesis shrinks it first)."""
    done = []
    all_checks = [schemathesis.checks.not_a_server_error, response_schema_conformance, *checks]
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        strategies = [operation.as_strategy(mode) for mode in modes]
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in (path_parameters or {}).items() if k in names}
        if fixed:
            strategies += [operation.as_strategy(mode, path_parameters=fixed) for mode in modes]
        strategies += [
            s.map(functools.partial(_with_path, fixed=fixed)) for s in schema.get_strategies_from_examples(operation)
        ]

        @settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def run(case: Any) -> None:
            case.call_and_validate(checks=all_checks)

        run()
        done.append(operation.label)
    return done


def _with_path(case: Any, fixed: dict[str, str]) -> Any:
    """An example case sent to the served model (its path parameters are generated otherwise)."""
    if fixed:
        case.path_parameters = {**(case.path_parameters or {}), **fixed}
    return case


def stop_lifespans() -> None:
    """End the lifespans schemathesis' ASGI transport started (they outlive a test otherwise)."""
    asgi.shutdown_lifespans()
