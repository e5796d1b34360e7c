"""``coherence``, ``relevance`` and ``semantic_similarity``: local proxies, embeddings, or a judge.

Coherence has no reference, and no local model can read for sense, so the local mode
(``heuristic:coherence-proxy``) measures what incoherent LLM output looks like on the surface:
repetition (repeated sentences, a low share of distinct word trigrams), word salad (too few
function words, function words side by side like "the of", a sentence ending on "the"),
truncation (no closing punctuation), sentences starting in lower case, and lexical continuity (share of adjacent sentences that
share a content word).  It is multiplicative: each defect scales the score down and is named
in the explanation.

Relevance uses the similarity engine on (prompt, response) when it is an embedding backend;
lexically it is ``lexical:prompt-term-coverage``: the IDF-weighted share of the prompt's content
words the response uses, since a short question and a long answer share few words but the right
ones.  Semantic similarity is the engine's score of (response, ground truth).
"""

from __future__ import annotations

import math
from collections import Counter

from ecosystem.testbench.embeddings import LEXICAL_METHOD, SEMANTIC_HINT
from ecosystem.testbench.metrics.base import MetricContext, MetricOutcome, judged
from ecosystem.testbench.text import STOPWORDS, content_terms, sentences, words

_GLUE = frozenset("the a an of to in on at by for with from and or but".split())
_ARTICLES = frozenset("the a an".split())
_PREPOSITIONS = frozenset("of to in at by for from with".split())
_NO_PAIR = _ARTICLES | _PREPOSITIONS
_ENDINGS = tuple('.!?:;"\')]}`*') + ("...", "…")


def coherence_proxy(text: str) -> tuple[float, list[str]]:
    """(score, defects found) for one text."""
    tokens = words(text)
    if not tokens:
        return 0.0, ["empty response"]
    score, defects = 1.0, []
    sents = sentences(text)

    normalised = [" ".join(words(s)) for s in sents]
    repeated = len(normalised) - len(set(normalised))
    if repeated:
        factor = max(0.2, 1.0 - repeated / len(normalised))
        score *= factor
        defects.append(f"{repeated} repeated sentence(s)")
    if len(tokens) >= 12:
        trigrams = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
        distinct = len(set(trigrams)) / len(trigrams)
        if distinct < 0.8:
            score *= max(0.2, distinct / 0.8)
            defects.append(f"only {distinct:.0%} of word trigrams are distinct (repetition)")
        top, count = Counter(t for t in tokens if t not in STOPWORDS).most_common(1)[0] if any(
            t not in STOPWORDS for t in tokens
        ) else ("", 0)
        if count / len(tokens) > 0.25:
            score *= 0.6
            defects.append(f"the word {top!r} is {count / len(tokens):.0%} of the text")

    if len(tokens) >= 6:
        function_share = sum(t in STOPWORDS for t in tokens) / len(tokens)
        if function_share < 0.2:
            score *= max(0.3, function_share / 0.2)
            defects.append(f"only {function_share:.0%} function words (reads as a word list or word salad)")
        clashes = sum((a in _ARTICLES and b in _NO_PAIR) or (a in _PREPOSITIONS and b in _PREPOSITIONS)
                      for a, b in zip(tokens, tokens[1:], strict=False))
        dangling = sum(words(s)[-1] in _GLUE for s in sents if words(s))
        if clashes:
            score *= max(0.3, 1.0 - 0.25 * clashes)
            defects.append(f"{clashes} ungrammatical function-word pair(s) like 'the of'")
        if dangling:
            score *= 0.6 ** min(dangling, 2)
            defects.append(f"{dangling} sentence(s) end on a word like 'the' or 'of'")

    lowercase_starts = sum(s[:1].islower() for s in sents)
    if lowercase_starts:
        score *= max(0.5, 1.0 - 0.2 * lowercase_starts)
        defects.append(f"{lowercase_starts} sentence(s) start in lower case")

    stripped = text.rstrip()
    if len(tokens) >= 8 and not stripped.endswith(_ENDINGS) and "\n" not in stripped[-3:]:
        score *= 0.85
        defects.append("ends without closing punctuation (truncated?)")

    if len(sents) >= 3:
        linked = 0
        for a, b in zip(sents, sents[1:], strict=False):
            if set(content_terms(a)) & set(content_terms(b)) or words(b)[:1] and words(b)[0] in {
                "it", "this", "that", "these", "they", "he", "she", "its", "their", "however", "therefore",
                "thus", "also", "then", "so", "but", "and", "finally", "first", "second", "next",
            }:
                linked += 1
        continuity = linked / (len(sents) - 1)
        if continuity < 0.34:
            score *= 0.75 + 0.75 * continuity
            defects.append(f"adjacent sentences rarely connect ({continuity:.0%} share words or link)")
    return max(0.0, min(1.0, score)), defects


async def coherence(ctx: MetricContext) -> MetricOutcome:
    if ctx.use_judge():
        return await judged(
            ctx,
            "Judge the coherence of the response: is it well organised, logically connected and fluent?",
            "Score 1 for clear, well-structured, fluent text; 0 for word salad, contradictions, or "
            "repetition loops.",
            prompt=ctx.prompt, reference=None,
        )
    score, defects = coherence_proxy(ctx.response_text)
    explanation = "surface proxy: " + ("; ".join(defects) if defects else "no repetition, word salad or truncation found")
    return MetricOutcome(score, "heuristic:coherence-proxy", explanation)


def prompt_term_coverage(prompt: str, response: str) -> float:
    """IDF-weighted share of the prompt's distinct content terms that appear in the response."""
    p_terms, r_terms = set(content_terms(prompt)), set(content_terms(response))
    if not p_terms:
        return 1.0 if not r_terms else 0.5
    # Terms only in the prompt are rarer (df=1 of 2 docs) than shared ones; weight by smoothed IDF.
    weight = {t: math.log(3 / (2 if t in r_terms else 1)) + 1.0 for t in p_terms}
    covered = sum(w for t, w in weight.items() if t in r_terms)
    return covered / sum(weight.values())


async def relevance(ctx: MetricContext) -> MetricOutcome:
    assert ctx.prompt is not None
    if ctx.use_judge():
        return await judged(
            ctx,
            "Judge whether the response addresses the prompt.",
            "Score 1 when the response answers what was asked, 0 when it is off-topic.",
            prompt=ctx.prompt, reference=None,
        )
    engine = ctx.resources.similarity
    backend = engine.resolve(ctx.option("backend"))
    if backend == "lexical":
        score = prompt_term_coverage(ctx.prompt, ctx.response_text)
        return MetricOutcome(score, "lexical:prompt-term-coverage", f"{score:.0%} of the prompt's key terms answered; {SEMANTIC_HINT}")
    score, method = await engine.similarity(ctx.prompt, ctx.response_text, backend)
    return MetricOutcome(score, method, "cosine similarity of prompt and response embeddings")


async def semantic_similarity(ctx: MetricContext) -> MetricOutcome:
    score, method = await ctx.resources.similarity.similarity(
        ctx.response_text, ctx.ground_truth_text, ctx.option("backend")
    )
    if method == LEXICAL_METHOD:
        return MetricOutcome(score, method, SEMANTIC_HINT)
    return MetricOutcome(score, method, "cosine similarity of sentence embeddings")
