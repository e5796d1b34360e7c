"""Benchmark: evaluations per second of each local Test-Bench metric, and batched vs single embedding.

1,000 generated response/ground-truth pairs (sentences built from a fixed vocabulary with a
seeded RNG; a quarter are paraphrase-like shuffles, a quarter have a changed number) are scored
by every metric that runs without a judge, through ``EmbeddedTestBench.evaluate`` -- the path a
workflow uses, request validation and scoring rule included.  The baseline measured in the same
run is ``exact_match`` (the cheapest metric): each metric's ``x_exact`` says how many times
slower it is.  When the ``[semantic]`` extra is installed, the MiniLM path is timed twice on the
same pairs: ``similarity_batch`` of all 1,000 (one model call) versus one call per pair (on
the first 100), best of two alternating rounds since the machine is shared.

    .venv/bin/python bench/metrics.py

The last line is one JSON object: ``{"bench": "metrics", "<metric>_per_s": ..,
"embedding_batched_per_s": .., "embedding_single_per_s": .., "batched_vs_single": ..}``
(embedding figures are null without the extra).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecosystem.testbench import (  # noqa: E402
    EmbeddedTestBench,
    EvaluationRequest,
    TestBenchSettings,
    local_model_available,
)

PAIRS = 1_000
SINGLE_EMBEDDING_PAIRS = 100  # one-at-a-time is slow; its rate is measured on a subset
ROUNDS = 2
SUBJECTS = ["The Eiffel Tower", "Marie Curie", "The Amazon river", "Ada Lovelace", "The Great Wall", "Mount Everest"]
VERBS = ["was completed in", "was recognised in", "was measured in", "became famous in", "was described in"]
TAILS = ["and is {n} metres tall.", "after {n} years of work.", "with {n} people involved.", "at a cost of {n} francs."]
WORDS = "light energy cells river mountain history science engineers design report growth model".split()

OPTIONS: dict[str, dict[str, Any]] = {
    "regex": {"pattern": r"\b\d{4}\b"},
    "contains": {"value": "in"},
    "json_schema": {"schema": {"type": "object", "required": ["answer"]}},
}
LOCAL_METRICS = [
    "exact_match", "accuracy", "contains", "regex", "levenshtein", "rouge_l", "json_valid", "json_schema",
    "numeric_tolerance", "semantic_similarity", "factual_consistency", "toxicity", "coherence", "relevance",
]


def generate(rng: random.Random) -> list[tuple[str, str, str]]:
    """(response, ground truth, prompt) triples."""
    triples = []
    for i in range(PAIRS):
        subject, verb, tail = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(TAILS)
        year, n = rng.randint(1800, 2020), rng.randint(2, 900)
        truth = f"{subject} {verb} {year} {tail.format(n=n)} " + " ".join(rng.sample(WORDS, 4)).capitalize() + "."
        kind = i % 4
        if kind == 0:
            response = truth
        elif kind == 1:
            response = f"In {year}, {subject.lower()} {verb.split()[0]} noted, {tail.format(n=n)}"
        elif kind == 2:
            response = truth.replace(str(year), str(year + 1))
        else:
            response = " ".join(rng.sample(WORDS, 8)) + "."
        triples.append((response, truth, f"What happened to {subject} and when?"))
    return triples


async def rate(bench: EmbeddedTestBench, metric: str, triples: list[tuple[str, str, str]]) -> float:
    requests = [
        EvaluationRequest(task_id=f"t{i}", response=r, ground_truth=g, prompt=p, metrics=[metric],
                          options={metric: OPTIONS.get(metric, {})})
        for i, (r, g, p) in enumerate(triples)
    ]
    started = time.perf_counter()
    for request in requests:
        await bench.evaluate(request)
    return len(requests) / (time.perf_counter() - started)


async def main() -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    triples = generate(random.Random(7))
    results: dict[str, Any] = {"bench": "metrics"}
    lexical = EmbeddedTestBench(TestBenchSettings(similarity_backend="lexical"))
    rows = []
    for metric in LOCAL_METRICS:
        await rate(lexical, metric, triples[:100])  # warm-up: caches, first-call costs
        per_s = await rate(lexical, metric, triples)
        results[f"{metric}_per_s"] = round(per_s, 1)
        rows.append((metric, per_s))
    baseline = results["exact_match_per_s"]
    print(f"{'metric (lexical backend)':<28}{'evals/s':>12}{'x_exact':>10}")
    for metric, per_s in rows:
        print(f"{metric:<28}{per_s:>12,.0f}{baseline / per_s:>10.1f}")

    batched = single = None
    if local_model_available():
        local = EmbeddedTestBench(TestBenchSettings(similarity_backend="local"))
        pairs = [(r, g) for r, g, _ in triples]
        await local.similarity_batch(pairs[:8])  # load the model outside the timing
        # Rounds alternate batched and single and keep the best of each: the machine is shared.
        batched_rates, single_rates = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            await local.similarity_batch(pairs)
            batched_rates.append(PAIRS / (time.perf_counter() - started))
            started = time.perf_counter()
            for pair in pairs[:SINGLE_EMBEDDING_PAIRS]:
                await local.similarity_batch([pair])
            single_rates.append(SINGLE_EMBEDDING_PAIRS / (time.perf_counter() - started))
        batched, single = max(batched_rates), max(single_rates)
        print(f"\nall-MiniLM-L6-v2 similarity: batched {batched:,.0f} pairs/s, "
              f"one at a time {single:,.0f} pairs/s ({batched / single:.1f}x)")
        semantic = await rate(local, "semantic_similarity", triples[:SINGLE_EMBEDDING_PAIRS])
        print(f"semantic_similarity via evaluate() with MiniLM: {semantic:,.0f} evals/s")
    else:
        print("\nembedding path skipped: pip install 'llm-orchestrator[semantic]'")
    results["embedding_batched_per_s"] = round(batched, 1) if batched else None
    results["embedding_single_per_s"] = round(single, 1) if single else None
    results["batched_vs_single"] = round(batched / single, 2) if batched and single else None
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
