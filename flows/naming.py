"""Which flow-run names a run may replace: only the ones Prefect made up.

A flow run created without a name gets a random two-word slug from the server (Prefect's
``generate_slug(2)``: an adjective and an animal from the ``coolname`` word lists, such as
``crimson-panda``).  ``run_workflow`` replaces such a name with ``<workflow>-<short id>`` so the
runs of a workflow are easy to tell apart; a name a person gave the run (the UI's Run form,
``prefect deployment run --flow-run-name``, ``run_deployment(flow_run_name=...)``) is kept.
The test is "two words, both from coolname's lists", the exact shape Prefect generates: a name a
person types (``ticket-4711-refund``, ``weekly-report``) almost never has it.  Both UIs' Run forms
prefill their Run Name field with a name of their own (``gamma-tarsus``, ``Generic-Gnat``) that the
person sees and submits: that counts as a name given to the run, and is kept.
"""

from __future__ import annotations

import functools
import importlib.resources


@functools.lru_cache(maxsize=1)
def _slug_words() -> frozenset[str]:
    words: set[str] = set()
    try:
        files = list(importlib.resources.files("coolname.data").iterdir())
    except (ModuleNotFoundError, FileNotFoundError):  # coolname comes with Prefect; be safe anyway
        return frozenset()
    for file in files:
        if not file.name.endswith(".txt"):
            continue
        for line in file.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" not in line:
                words.update(line.split())
    return frozenset(words)


def is_generated_name(name: str | None) -> bool:
    """True when ``name`` is empty or has the shape of a name Prefect generated for the run."""
    if not name:
        return True
    parts = name.split("-")
    words = _slug_words()
    return len(parts) == 2 and all(part in words for part in parts)
