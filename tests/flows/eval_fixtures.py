"""Small eval suites written to a temporary directory, run offline, and a count of provider calls.

Each suite gets its own workflow name, so answers cached by another test's suite (the cache key
includes the workflow) are never reused by accident.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecosystem.forge.providers.offline import OfflineProvider

TICKETS = {
    "refund": ("I was charged twice, refund me", "billing"),
    "login": ("Login page shows error 500", "technical"),
    "parcel": ("My parcel is late by a week", "shipping"),
    "password": ("The password reset mail never comes", "account"),
}


def answer(category: str) -> str:
    return json.dumps({"category": category, "urgency": "low"})


@dataclass
class EvalFiles:
    suite: Path
    workflow: Path
    config: Path
    name: str


def write_suite(folder: Path, *, cases: dict[str, tuple[str, str]] | None = None, models: list[str] | None = None,
                repeat: int = 1, fail_under: dict[str, float] | None = None,
                responses: dict[str, str] | None = None, failures: dict[str, Any] | None = None,
                extra_assert: list[dict[str, Any]] | None = None, suite_text: str | None = None) -> EvalFiles:
    """A support-ticket classifier workflow, a suite over ``cases`` (id -> (ticket, category)) and
    an offline config answering each ticket with ``responses`` (default: the right category)."""
    cases = cases or TICKETS
    name = f"classifier-{uuid.uuid4().hex[:8]}"
    workflow = {
        "apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {
            "inputs": [{"name": "ticket", "type": "string", "required": True}],
            "tasks": [
                {"id": "classify", "type": "llm", "executor": "llm-forge:openai-api",
                 "inputs": {"prompt": "${{ workflow.inputs.ticket }}", "config": {"model": "gpt-4o-mini", "max_tokens": 60}}},
                {"id": "fields", "type": "transform", "executor": "llm-forge:tool:json-extract",
                 "inputs": {"text": "${{ tasks.classify.outputs.response }}"}},
            ],
            "outputs": {"category": {"value": "${{ tasks.fields.outputs.data.category }}"}},
        },
    }
    suite: dict[str, Any] = {
        "apiVersion": "orchestrator.llm/v1", "kind": "EvalSuite", "metadata": {"name": f"{name}-suite"},
        "spec": {
            "workflow": "workflow.yaml",
            "cases": [{"id": case_id, "inputs": {"ticket": ticket}, "expected": {"category": category}}
                      for case_id, (ticket, category) in cases.items()],
            "repeat": repeat, "concurrency": 4,
            "assert": [{"output": "category", "metric": "exact_match", "ground_truth": "${{ case.expected.category }}"},
                       *(extra_assert or [])],
        },
    }
    if models:
        suite["spec"]["matrix"] = {"models": {"classify": models}}
    if fail_under:
        suite["spec"]["failUnder"] = fail_under
    config = {"orchestrator": {
        "storage": {"url": f"sqlite:///{folder / 'store.db'}"},
        "integrations": {"llm-forge": {
            "offline": True,
            "offline_models": {"gpt-4o-mini": {"cost": 0.0001}, "gpt-4o": {"cost": 0.0025}},
            "offline_responses": responses if responses is not None else {t: answer(c) for t, c in cases.values()},
            "offline_failures": failures or {},
        }},
    }}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workflow.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    (folder / "suite.yaml").write_text(suite_text if suite_text is not None else yaml.safe_dump(suite, sort_keys=False))
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return EvalFiles(folder / "suite.yaml", folder / "workflow.yaml", folder / "config.yaml", name)


class CallCounter:
    """Counts calls that reach the offline provider (what a real provider would bill)."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    @property
    def calls(self) -> int:
        return len(self.prompts)


@pytest.fixture
def provider_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallCounter]:
    counter = CallCounter()
    original = OfflineProvider.infer

    async def counted(self: OfflineProvider, request: Any, model: str) -> Any:
        counter.prompts.append(request.prompt)
        return await original(self, request, model)

    monkeypatch.setattr(OfflineProvider, "infer", counted)
    yield counter
