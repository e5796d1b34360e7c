"""Each service fuzzed from its own OpenAPI document (schemathesis), in process, with a token.

Every operation of every service gets generated requests, valid and invalid (schemathesis'
examples, coverage and fuzzing phases), sent through the ASGI app on the embedded backend and a
temporary SQLite store.  Every answer must be documented (status, content type, headers, body
schema) and none may be a 5xx.  Schemathesis' ``ignored_auth`` check re-sends cases without a
token and with a wrong one, so the 401 paths are exercised too.

The documents are read at collection time from apps built over no implementation (building the
routes touches nothing); each schema's ASGI app is a forwarder to the real app the module fixture
builds, which must serve the very same document.  ``schemathesis.pytest.from_fixture`` would
load the schema from a fixture instead, but its lazy loader sets ``Node._nodeid``, which pytest
9.2 no longer has.

Bounded for a shared 2-core machine: ``MAX_EXAMPLES`` per operation, no deadline, no example
database.  The cases that ran per service are printed (``-s``) and must reach a floor, so a
fuzzer that silently stops generating fails here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.mutations import OperatorKind
from schemathesis.generation.meta import CoverageScenario
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from service_apps import SYSTEMS, openapi_document, service_apps  # type: ignore[import-not-found]

TOKEN = "fuzz-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = 10
MIN_CASES = 50  # per service, across its operations
CASES: Counter[str] = Counter()
TESTS = {
    "forge": "test_forge_answers_every_request_as_documented",
    "test-bench": "test_testbench_answers_every_request_as_documented",
    "auto-optimizer": "test_optimizer_answers_every_request_as_documented",
    "governance": "test_governance_answers_every_request_as_documented",
}


class _Forward:
    """The ASGI app schemathesis calls for one system: the app the ``apps`` fixture built for it."""

    built: dict[str, Any] = {}

    def __init__(self, system: str) -> None:
        self.system = system

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.built[self.system](scope, receive, send)


def _schema(system: str) -> Any:
    schema = schemathesis.openapi.from_dict(openapi_document(system, TOKEN))
    schema.app = _Forward(system)
    return schema


SCHEMAS = {system: _schema(system) for system in SYSTEMS}
# Schema-valid is not always acceptable here: a metric name must be registered, a prompt or messages
# given, a budget left (402).  Those answers are still checked against the document like any other.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


def _only_changes_types(case: Any) -> bool:
    data = case.meta.phase.data if case.meta is not None else None
    if getattr(data, "scenario", None) == CoverageScenario.INCORRECT_TYPE:
        return True
    mutations = getattr(data, "mutations", ())
    return bool(mutations) and all(m.operator == OperatorKind.CHANGE_TYPE for m in mutations)


def bounds_are_enforced(ctx: Any, response: Any, case: Any) -> bool | None:
    """``negative_data_rejection``, except for values of another JSON type that pydantic's lax mode
    coerces on purpose (``0`` for ``false``, ``false`` for ``0.0``, a number for a timestamp).
    Out-of-range numbers, over-long strings and lists, broken patterns and missing fields must
    still be refused."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        if _only_changes_types(case):
            return None
        raise


FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def apps(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with service_apps(tmp_path_factory.mktemp("fuzz"), TOKEN) as built:
        for system, app in built.items():
            assert app.openapi() == SCHEMAS[system].raw_schema, f"{system} serves another document"
        _Forward.built.update(built)
        yield built
        _Forward.built.clear()
    print(f"\nschemathesis {schemathesis.__version__}, cases per service: {dict(CASES)}")
    selected = {item.name.partition("[")[0] for item in request.session.items}
    starved = [system for system, test in TESTS.items() if test in selected and CASES[system] < MIN_CASES]
    assert not starved, f"too few fuzz cases ran for {starved}: {dict(CASES)}"


def _check(system: str, case: Any, apps: dict[str, Any]) -> None:
    CASES[system] += 1
    case.call_and_validate(headers=AUTH, excluded_checks=EXCLUDED, additional_checks=[bounds_are_enforced])


@SCHEMAS["forge"].parametrize()
@FUZZ
def test_forge_answers_every_request_as_documented(case: Any, apps: dict[str, Any]) -> None:
    _check("forge", case, apps)


@SCHEMAS["test-bench"].parametrize()
@FUZZ
def test_testbench_answers_every_request_as_documented(case: Any, apps: dict[str, Any]) -> None:
    _check("test-bench", case, apps)


@SCHEMAS["auto-optimizer"].parametrize()
@FUZZ
def test_optimizer_answers_every_request_as_documented(case: Any, apps: dict[str, Any]) -> None:
    _check("auto-optimizer", case, apps)


@SCHEMAS["governance"].parametrize()
@FUZZ
def test_governance_answers_every_request_as_documented(case: Any, apps: dict[str, Any]) -> None:
    _check("governance", case, apps)
