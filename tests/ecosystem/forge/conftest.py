"""Fixtures for Forge tests: one fake provider server per test, and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from ecosystem.forge import ForgeSettings, RetryPolicy
from tests.ecosystem.forge.fakes import FakeProvider

KEYS = {
    "anthropic": "sk-ant-api03-SECRET-anthropic-key-1234",
    "openai": "sk-proj-SECRET-openai-key-5678",
    "gemini": "AIzaSySECRET-gemini-key-9012",
}
# Fast retries so tests that exercise backoff stay quick; Retry-After tests set their own waits.
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, backoff_multiplier=2.0)


def settings_for(*fakes: FakeProvider, **overrides: Any) -> ForgeSettings:
    values: dict[str, Any] = {
        "api_keys": {kind: SecretStr(key) for kind, key in KEYS.items()},
        "base_urls": {fake.kind: fake.base_url for fake in fakes},
        "retry_policy": FAST_RETRY,
        "timeout": 5.0,
    }
    values.update(overrides)
    return ForgeSettings(**values)


@pytest.fixture
def anthropic_fake() -> Iterator[FakeProvider]:
    with FakeProvider("anthropic") as fake:
        yield fake


@pytest.fixture
def openai_fake() -> Iterator[FakeProvider]:
    with FakeProvider("openai") as fake:
        yield fake


@pytest.fixture
def gemini_fake() -> Iterator[FakeProvider]:
    with FakeProvider("gemini") as fake:
        yield fake
