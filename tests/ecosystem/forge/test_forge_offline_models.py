"""``offline_models``: per-model latency and cost of the offline provider."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from ecosystem.forge import EmbeddedForge, ForgeInferenceRequest, ForgeSettings
from ecosystem.forge.config import OfflineModel


async def _call(forge: EmbeddedForge, model: str) -> tuple[float, float | None, str]:
    started = time.perf_counter()
    response = await forge.infer(ForgeInferenceRequest(prompt="hello", model=model))
    return time.perf_counter() - started, response.cost, response.model


async def test_each_model_has_its_own_latency_and_cost_and_others_fall_back() -> None:
    settings = ForgeSettings(
        offline=True,
        offline_latency=0.0,
        offline_cost=0.5,
        offline_models={
            "claude-sonnet-4-5": OfflineModel(latency=0.12, cost=0.01),
            "claude-haiku-4-5": {"cost": 0.002},  # latency falls back to offline_latency
        },
    )
    async with EmbeddedForge(settings) as forge:
        slow, sonnet_cost, sonnet_name = await _call(forge, "claude-sonnet-4-5")
        fast, haiku_cost, haiku_name = await _call(forge, "claude-haiku-4-5")
        _, other_cost, _ = await _call(forge, "claude-opus-4-1")
    assert slow >= 0.12 > fast
    assert (sonnet_cost, haiku_cost, other_cost) == (0.01, 0.002, 0.5)
    assert (sonnet_name, haiku_name) == ("offline:claude-sonnet-4-5", "offline:claude-haiku-4-5")


async def test_without_offline_cost_an_unlisted_model_costs_zero() -> None:
    settings = ForgeSettings(offline=True, offline_models={"claude-haiku-4-5": {"latency": "50ms"}})
    async with EmbeddedForge(settings) as forge:
        elapsed, cost, _ = await _call(forge, "claude-haiku-4-5")
        _, other, _ = await _call(forge, "claude-sonnet-4-5")
    assert elapsed >= 0.05
    assert (cost, other) == (0.0, 0.0)


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        ForgeSettings(offline_models={"m": {"cost": -1}})
    with pytest.raises(ValidationError):
        ForgeSettings(offline_models={"m": {"latency": -1}})
