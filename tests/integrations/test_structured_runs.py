"""Structured output in real workflow runs: the response schema written under a task's output is
what the provider is asked for, the parsed answer is that output and later tasks read its fields,
a non-conforming answer gets one repair call (counted in attempts and cost), and a second
violation fails the task with the path that did not fit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ecosystem.forge.fakes import FakeProvider, anthropic_tool_use
from tests.flows.helpers import run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["urgency", "customer"],
    "additionalProperties": False,
    "properties": {
        "urgency": {"type": "string", "enum": ["low", "high"]},
        "customer": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
    },
}
GOOD = {"urgency": "high", "customer": {"email": "dana@example.com"}}
BAD = {"urgency": "urgent", "customer": {"email": "dana@example.com"}}


@pytest.fixture
def anthropic() -> Iterator[FakeProvider]:
    with FakeProvider("anthropic") as fake:
        yield fake


def config(fake: FakeProvider) -> dict[str, object]:
    return {"orchestrator": {"integrations": {"llm-forge": {
        "api_keys": {"anthropic": "sk-ant-test"},
        "base_urls": {"anthropic": fake.base_url},
        "retry_policy": {"max_attempts": 1},
    }}}}


def document() -> dict[str, Any]:
    doc = workflow("""
    - id: extract
      executor: llm-forge:claude-api
      inputs:
        system: You extract fields from support tickets.
        cache: [system]
        prompt: The printer is on fire. Write to dana@example.com.
        config: {model: claude-haiku-4-5, max_tokens: 200}
      outputs:
        data:
          schema: SCHEMA
    - id: route
      executor: orchestrator:template
      inputs:
        template: "{{ urgency }} for {{ email }}"
        values:
          urgency: ${{ tasks.extract.outputs.data.urgency }}
          email: ${{ tasks.extract.outputs.data.customer.email }}
""", extra="""
  outputs:
    urgency: ${{ tasks.extract.outputs.data.urgency }}
""")
    doc["spec"]["tasks"][0]["outputs"]["data"]["schema"] = SCHEMA
    return doc


async def test_a_conforming_answer_is_the_output_and_later_tasks_read_its_fields(anthropic: FakeProvider) -> None:
    anthropic.queue(anthropic_tool_use("response", GOOD))
    state, data = await run(document(), config=config(anthropic))
    assert state.is_completed(), data.get("error")
    assert len(anthropic.requests) == 1
    body = anthropic.requests[0].json
    assert body["tools"][0]["input_schema"] == SCHEMA  # the schema from the workflow file, asked natively
    assert body["tool_choice"] == {"type": "tool", "name": "response"}
    record = data["tasks"]["extract"]
    assert record["outputs"]["data"] == GOOD
    assert record["attempts"] == 1
    assert data["tasks"]["route"]["outputs"]["text"] == "high for dana@example.com"
    assert data["outputs"]["urgency"] == "high"


async def test_a_violation_is_repaired_once_and_counted(anthropic: FakeProvider) -> None:
    anthropic.queue(anthropic_tool_use("response", BAD), anthropic_tool_use("response", GOOD))
    state, data = await run(document(), config=config(anthropic))
    assert state.is_completed(), data.get("error")
    assert len(anthropic.requests) == 2
    repair = anthropic.requests[1].json
    last = repair["messages"][-1]["content"]
    text = last if isinstance(last, str) else "".join(block.get("text", "") for block in last)
    assert "$.urgency" in text  # the repair call shows the model what did not fit
    record = data["tasks"]["extract"]
    assert record["attempts"] == 2
    calls = record["metadata"]["calls"]
    assert len(calls) == 2 and all(call["cost"] > 0 for call in calls)
    assert record["metadata"]["cost"] == pytest.approx(sum(call["cost"] for call in calls))
    assert record["outputs"]["data"] == GOOD
    assert data["tasks"]["route"]["outputs"]["text"] == "high for dana@example.com"


async def test_a_second_violation_fails_with_the_path_that_did_not_fit(anthropic: FakeProvider) -> None:
    anthropic.queue(anthropic_tool_use("response", BAD),
                    anthropic_tool_use("response", {"urgency": "high", "customer": {}}))
    state, data = await run(document(), config=config(anthropic))
    assert state.is_failed()
    assert len(anthropic.requests) == 2  # one repair, no more
    record = data["tasks"]["extract"]
    assert record["state"] == "failed"
    assert "$.customer.email" in record["error"]
    assert data["tasks"]["route"]["state"] != "completed"
