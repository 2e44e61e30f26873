"""The OpenAPI schema, fuzzed with schemathesis against a real server: never a 500, and every
status the service answers is one the schema declares. Bounded: a fixed number of cases.

It drives schemathesis through its documented Python API (an operation's Hypothesis
strategy under `@given`), not through its pytest plugin (`schemathesis.pytest.from_fixture`),
whose hooks read pytest internals: pytest 9.2 removed one (`Function._nodeid`) and broke the
plugin while nothing here changed. This way a pytest upgrade cannot break the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.server import ServerProcess

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error, status_code_conformance  # noqa: E402

CASES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def fuzz_server(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[ServerProcess]:
    with ServerProcess(explain_model, "--max-batch", "4", "--max-body-mb", "1",
                       "--api-key", "fuzz-key",
                       log=tmp_path_factory.mktemp("log") / "fuzz.log") as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(fuzz_server: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json",
                                         headers={"X-API-Key": "fuzz-key"})


def test_no_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5, [op.label for op in operations]  # the schema was read
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: Any) -> None:
            response = case.call(headers={"X-API-Key": "fuzz-key"}, timeout=30)
            case.validate_response(response,
                                   checks=[not_a_server_error, status_code_conformance])
            assert b"Traceback" not in response.content, case.operation.label

        no_server_error()
