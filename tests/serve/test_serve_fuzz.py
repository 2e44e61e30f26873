"""The OpenAPI schema, fuzzed with schemathesis against a real server: never a 500, and every
status the service answers is one the schema declares. Bounded: a fixed number of cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.server import ServerProcess

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error, status_code_conformance  # noqa: E402

CASES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def fuzz_server(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[ServerProcess]:
    running = ServerProcess(explain_model, "--max-batch", "4", "--max-body-mb", "1",
                            "--api-key", "fuzz-key",
                            log=tmp_path_factory.mktemp("log") / "fuzz.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_server: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json",
                                         headers={"X-API-Key": "fuzz-key"})


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error(case: Any, fuzz_server: ServerProcess) -> None:
    response = case.call(headers={"X-API-Key": "fuzz-key"}, timeout=30)
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
    assert b"Traceback" not in response.content
