"""Similarity, relevance, coherence, factual consistency and toxicity: orderings on clear pairs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ecosystem.testbench import EmbeddedTestBench, EvaluationRequest, MetricResult, TestBenchSettings
from tests.ecosystem.testbench.conftest import requires_semantic

TRUTH = "The Eiffel Tower was completed in 1889 and is 330 metres tall."
PARAPHRASE = "Completed in 1889, the Eiffel Tower stands 330 metres high."
UNRELATED = "Bananas are a good source of potassium and dietary fibre."
QUESTION = "When was the Eiffel Tower completed, and how tall is it?"


async def run(bench: EmbeddedTestBench, metric: str, response: Any, truth: Any = None,
              prompt: str | None = None, **options: Any) -> MetricResult:
    request = EvaluationRequest(task_id="t", response=response, ground_truth=truth, prompt=prompt,
                                metrics=[metric], options={metric: options} if options else {})
    return (await bench.evaluate(request)).metrics[metric]


async def test_lexical_similarity_orders_paraphrase_above_unrelated(lexical_bench: EmbeddedTestBench) -> None:
    same = await run(lexical_bench, "semantic_similarity", TRUTH, TRUTH)
    para = await run(lexical_bench, "semantic_similarity", PARAPHRASE, TRUTH)
    unrelated = await run(lexical_bench, "semantic_similarity", UNRELATED, TRUTH)
    assert same.score == pytest.approx(1.0)
    assert same.score > para.score > unrelated.score
    assert unrelated.score < 0.1
    assert para.method == "lexical:tfidf-cosine"
    assert "llm-orchestrator[semantic]" in (para.explanation or "")


async def test_lexical_fallback_is_noted_in_details(lexical_bench: EmbeddedTestBench) -> None:
    request = EvaluationRequest(task_id="t", response=PARAPHRASE, ground_truth=TRUTH, metrics=["semantic_similarity"])
    response = await lexical_bench.evaluate(request)
    assert response.details.methods == {"semantic_similarity": "lexical:tfidf-cosine"}
    assert any("lexical proxy" in note for note in response.details.notes)


@pytest.fixture(scope="module")
def local_settings() -> TestBenchSettings:
    return TestBenchSettings(similarity_backend="local")


@pytest.fixture
async def local_bench(local_settings: TestBenchSettings) -> AsyncIterator[EmbeddedTestBench]:
    bench = EmbeddedTestBench(local_settings)
    yield bench
    await bench.aclose()


@requires_semantic
async def test_embedding_similarity_sees_meaning_not_words(local_bench: EmbeddedTestBench) -> None:
    truth = "The physician examined the child."
    synonyms = "A doctor checked the kid."  # no content word in common with the truth
    unrelated = "Quarterly revenue beat analyst expectations."
    para = await run(local_bench, "semantic_similarity", synonyms, truth)
    other = await run(local_bench, "semantic_similarity", unrelated, truth)
    assert para.method == "embedding:all-MiniLM-L6-v2"
    assert para.score > 0.5 > other.score
    lexical = EmbeddedTestBench(TestBenchSettings(similarity_backend="lexical"))
    assert (await run(lexical, "semantic_similarity", synonyms, truth)).score < 0.1  # what a lexical proxy misses


@requires_semantic
async def test_embedding_batch_matches_single_calls(local_bench: EmbeddedTestBench) -> None:
    pairs = [(PARAPHRASE, TRUTH), (UNRELATED, TRUTH), (TRUTH, TRUTH)]
    batched, method = await local_bench.similarity_batch(pairs)
    singles = [(await local_bench.similarity_batch([pair]))[0][0] for pair in pairs]
    assert method == "embedding:all-MiniLM-L6-v2"
    assert batched == pytest.approx(singles, abs=1e-4)
    assert batched[2] > batched[0] > batched[1]


@requires_semantic
async def test_embedding_relevance(local_bench: EmbeddedTestBench) -> None:
    on_topic = await run(local_bench, "relevance", "It was finished in 1889 and is about 330 m tall.", prompt=QUESTION)
    off_topic = await run(local_bench, "relevance", UNRELATED, prompt=QUESTION)
    assert on_topic.score > off_topic.score
    assert on_topic.passed and not off_topic.passed


async def test_lexical_relevance_on_vs_off_topic(lexical_bench: EmbeddedTestBench) -> None:
    on_topic = await run(lexical_bench, "relevance", PARAPHRASE, prompt=QUESTION)
    off_topic = await run(lexical_bench, "relevance", UNRELATED, prompt=QUESTION)
    assert on_topic.method == "lexical:prompt-term-coverage"
    assert on_topic.score > 0.5 > off_topic.score
    assert on_topic.passed and not off_topic.passed


FLUENT = (
    "Photosynthesis converts light into chemical energy. It takes place in the chloroplasts of "
    "plant cells. This energy is then stored as glucose, which the plant uses to grow."
)
WORD_SALAD = "purple elephant quickly theorem banana the of seven running tomorrow galaxy spoon"
REPETITIVE = "The answer is yes. The answer is yes. The answer is yes. The answer is yes."
TRUNCATED = "Photosynthesis converts light into chemical energy and it takes place in the"


async def test_coherence_orders_fluent_above_defective(lexical_bench: EmbeddedTestBench) -> None:
    fluent = await run(lexical_bench, "coherence", FLUENT)
    salad = await run(lexical_bench, "coherence", WORD_SALAD)
    loop = await run(lexical_bench, "coherence", REPETITIVE)
    cut = await run(lexical_bench, "coherence", TRUNCATED)
    assert fluent.method == "heuristic:coherence-proxy"
    assert fluent.passed and fluent.score > 0.9
    for bad in (salad, loop, cut):
        assert fluent.score > bad.score and not bad.passed
    assert "repeated" in (loop.explanation or "")
    assert "word salad" in (salad.explanation or "")
    assert "truncated" in (cut.explanation or "")
    assert (await run(lexical_bench, "coherence", "")).score == 0.0


@pytest.mark.parametrize(
    ("changed", "what"),
    [
        ("The Eiffel Tower was completed in 1899 and is 330 metres tall.", "number 1899"),
        ("The Eiffel Tower was completed in 1889 and is 300 metres tall.", "number 300"),
        ("The Chrysler Building was completed in 1889 and is 330 metres tall.", "entity Chrysler Building"),
    ],
)
async def test_factual_consistency_penalises_changed_facts(lexical_bench: EmbeddedTestBench, changed: str, what: str) -> None:
    faithful = await run(lexical_bench, "factual_consistency", PARAPHRASE, TRUTH)
    wrong = await run(lexical_bench, "factual_consistency", changed, TRUTH)
    assert faithful.score == 1.0 and faithful.passed
    assert faithful.score - wrong.score >= 0.25 and not wrong.passed
    assert what in (wrong.explanation or "")
    assert wrong.method == "heuristic:fact-overlap"


async def test_factual_consistency_dates_and_number_words(lexical_bench: EmbeddedTestBench) -> None:
    truth = "The treaty was signed on 5 March 2021 by three countries."
    same_date = await run(lexical_bench, "factual_consistency", "Three countries signed it on March 5, 2021.", truth)
    other_date = await run(lexical_bench, "factual_consistency", "Three countries signed it on March 15, 2021.", truth)
    iso_date = await run(lexical_bench, "factual_consistency", "Signed 2021-03-05 by 3 countries.", truth)
    assert same_date.score == 1.0 and iso_date.score == 1.0
    assert other_date.score < 0.8 and "date 2021-03-15" in (other_date.explanation or "")


async def test_factual_consistency_without_checkable_facts_says_so(lexical_bench: EmbeddedTestBench) -> None:
    result = await run(lexical_bench, "factual_consistency", "the sky is blue", "the sky is blue")
    assert result.method == "lexical:tfidf-cosine" and "no numbers, dates or names" in (result.explanation or "")


async def test_toxicity_insult_vs_clean(lexical_bench: EmbeddedTestBench) -> None:
    clean = await run(lexical_bench, "toxicity", "Thank you, that was a very helpful explanation.")
    insult = await run(lexical_bench, "toxicity", "You are a stupid idiot and nobody likes you.")
    obfuscated = await run(lexical_bench, "toxicity", "What the f.u.c.k is this sh!t")
    one_in_many = await run(lexical_bench, "toxicity", "This long answer is otherwise fine " * 10 + "but crap.")
    assert clean.score == 1.0 and clean.passed
    assert insult.score < 0.2 and not insult.passed and "idiot" in (insult.explanation or "")
    assert not obfuscated.passed
    assert clean.score > one_in_many.score > insult.score and not one_in_many.passed
    assert insult.method == "lexicon:better-profanity"


async def test_toxicity_ignores_benign_technical_and_medical_words(lexical_bench: EmbeddedTestBench) -> None:
    text = "Kill the hung process, then restart it. The heart is an organ; hell freezes over is an idiom."
    assert (await run(lexical_bench, "toxicity", text)).score == 1.0
