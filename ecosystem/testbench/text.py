"""Small text tools every local metric shares: normalisation, tokens, sentences, TF-IDF cosine.

Plain Python on purpose: these run thousands of times per second with no model and no extra
dependency.  The stemmer is deliberately crude (strip common English suffixes) -- it exists so a
lexical score sees "sitting" and "sits" as the same word, not to be linguistically right.
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from collections import Counter
from typing import Any

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves also may might must shall upon yet
    s t""".split()
)

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_PUNCT_TABLE = str.maketrans({c: " " for c in string.punctuation + "’‘“”–—…"})
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def as_text(value: Any) -> str:
    """Text of any JSON value: strings as they are, everything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: NFKC, casefold, punctuation to spaces, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_PUNCT_TABLE)
    return " ".join(_ARTICLES.sub(" ", text).split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits; apostrophes inside words kept)."""
    return [w.replace("’", "'") for w in _WORD.findall(unicodedata.normalize("NFKC", text).casefold())]


def stem(word: str) -> str:
    for suffix, minimum in (("ational", 4), ("ations", 4), ("ation", 4), ("ingly", 4), ("ing", 4),
                            ("edly", 4), ("ies", 3), ("ied", 3), ("ed", 4), ("es", 4), ("ly", 4), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= minimum - 1:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix == "s" and base.endswith("s"):
                return word
            return base
    return word


def content_terms(text: str) -> list[str]:
    """Stemmed words that are not stopwords: what lexical similarity compares."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and not w.startswith("'")]


def sentences(text: str) -> list[str]:
    """Split prose into sentences at . ! ? followed by a capital or digit (good enough for scoring)."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*[-*•\d]+[.)]?\s)", text.strip()):
        parts.extend(s.strip() for s in _SENTENCE_END.split(block.strip()) if s.strip())
    return parts


def tfidf_vectors(docs: list[list[str]]) -> list[dict[str, float]]:
    """Smoothed TF-IDF (``idf = ln((1+N)/(1+df)) + 1``, sublinear tf) over the given documents."""
    n = len(docs)
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(doc))
    idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}
    vectors = []
    for doc in docs:
        tf = Counter(doc)
        vectors.append({term: (1.0 + math.log(count)) * idf[term] for term, count in tf.items()})
    return vectors


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(weight * b.get(term, 0.0) for term, weight in a.items())
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return max(0.0, min(1.0, dot / norm)) if norm else 0.0


def tfidf_cosine(left: str, right: str) -> float:
    """TF-IDF cosine of two texts' content terms, IDF computed over the pair alone.

    Per-pair IDF keeps a score independent of whatever else is in a batch.
    """
    a, b = content_terms(left), content_terms(right)
    if not a and not b:
        # Nothing but stopwords on both sides: fall back to the normalised strings.
        return 1.0 if normalize_answer(left) == normalize_answer(right) else 0.0
    va, vb = tfidf_vectors([a, b])
    return cosine(va, vb)
