"""User tools loaded through entry points in test_forge_tools (a plugin package would ship these)."""

from __future__ import annotations

from typing import Any


def shout(inputs: dict[str, Any]) -> dict[str, Any]:
    """Upper-case a text."""
    return {"text": str(inputs["text"]).upper()}


shout.inputs = ["text"]  # type: ignore[attr-defined]
shout.outputs = ["text"]  # type: ignore[attr-defined]


async def count_words(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(str(inputs.get("text", "")).split())}


def broken(inputs: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("the database is on fire")


def not_a_dict(inputs: dict[str, Any]) -> Any:
    return ["not", "a", "dict"]
