"""``factual_consistency``: does the response state the same numbers, dates and names as the truth?

Local mode (``method: heuristic:fact-overlap``) extracts checkable facts from both texts with
regular expressions -- dates (ISO, "5 March 2021", "March 5, 2021"), numbers (digits, thousands
separators, decimals, percentages, "2 million", number words up to twenty) and named entities
(capitalised word spans; a sentence's first word counts only if it is capitalised mid-sentence
somewhere) -- then scores ``0.8 * precision + 0.2 * recall``: a fact in the response that the
ground truth does not state (a changed year, a wrong name) costs more than a fact left out.  It
cannot see a claim that is wrong in words alone ("rose" vs "fell"); when neither text has
checkable facts it falls back to content-word overlap and says so.  Judge mode asks an LLM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecosystem.testbench.metrics.base import MetricContext, MetricOutcome, judged
from ecosystem.testbench.text import STOPWORDS, tfidf_cosine

_MONTHS = {
    m: i
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")],
        start=1,
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I), ("d", "M", "y")),
    (re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), ("M", "d", "y")),
    (re.compile(rf"\b({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I), ("M", "y")),
]
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(%|percent\b|per cent\b)?"
    r"(?:\s+(thousand|million|billion|trillion)\b)?",
    re.I,
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_CAP_WORD = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of|de|la|von|van|the|and|&)\s+[A-Z][\w'’-]*|\s+[A-Z][\w'’-]*)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"'(]\s*)$")


@dataclass(frozen=True)
class Facts:
    numbers: frozenset[float]
    dates: frozenset[tuple[int, ...]]
    entities: frozenset[str]

    def labelled(self) -> list[tuple[str, object]]:
        return (
            [("number", n) for n in sorted(self.numbers)]
            + [("date", d) for d in sorted(self.dates)]
            + [("entity", e) for e in sorted(self.entities)]
        )


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _dates(text: str) -> tuple[set[tuple[int, ...]], list[tuple[int, int]]]:
    found: set[tuple[int, ...]] = set()
    spans: list[tuple[int, int]] = []
    for pattern, order in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(s <= match.start() < e for s, e in spans):
                continue
            parts = dict(zip(order, match.groups(), strict=True))
            year = int(parts["y"])
            month = int(parts["m"]) if "m" in parts else _MONTHS[parts["M"].lower().rstrip(".")]
            day = int(parts["d"]) if "d" in parts else 0
            if 1 <= month <= 12 and 0 <= day <= 31:
                found.add((year, month, day) if day else (year, month))
                spans.append(match.span())
    return found, spans


def _numbers(text: str) -> set[float]:
    found: set[float] = set()
    for match in _NUMBER.finditer(text):
        value = float(match.group(1).replace(",", "") + (match.group(2) or ""))
        if match.group(4):
            value *= _SCALE[match.group(4).lower()]
        found.add(round(value, 6))
    for match in _NUMBER_WORD_RE.finditer(text):
        found.add(float(_NUMBER_WORDS[match.group(1).lower()]))
    return found


def _entities(text: str, proper: set[str]) -> set[str]:
    found: set[str] = set()
    for match in _CAP_WORD.finditer(text):
        span = match.group(0)
        tokens = span.split()
        at_start = bool(_SENTENCE_START.search(text[: match.start()]))
        if at_start:
            # "The Eiffel Tower" -> "Eiffel Tower"; a lone first word counts only if known proper.
            while tokens and tokens[0].lower() in STOPWORDS:
                tokens = tokens[1:]
            if len(tokens) == 1 and tokens[0] not in proper:
                continue
        while tokens and tokens[-1].lower() in STOPWORDS:
            tokens = tokens[:-1]
        if tokens and not (len(tokens) == 1 and tokens[0].lower() in STOPWORDS):
            found.add(" ".join(tokens))
    return {e for e in found if not _NUMBER_WORD_RE.fullmatch(e) and e.lower() not in _MONTHS}


def _mid_sentence_capitals(text: str) -> set[str]:
    proper = set()
    for match in re.finditer(r"\b[A-Z][\w'’-]*", text):
        if not _SENTENCE_START.search(text[: match.start()]):
            proper.add(match.group(0))
    return proper


def extract_facts(text: str, proper: set[str] | None = None) -> Facts:
    dates, spans = _dates(text)
    rest = _mask(text, spans)
    proper = proper if proper is not None else _mid_sentence_capitals(text)
    return Facts(frozenset(_numbers(rest)), frozenset(dates), frozenset(_entities(rest, proper)))


def _entity_supported(entity: str, other_entities: frozenset[str], other_text_lower: str) -> bool:
    lowered = entity.lower()
    if re.search(rf"(?<!\w){re.escape(lowered)}(?!\w)", other_text_lower):
        return True
    # "Obama" is supported by "Barack Obama" and vice versa.
    tokens = set(lowered.split())
    return any(tokens & set(e.lower().split()) - STOPWORDS for e in other_entities)


def _date_supported(date: tuple[int, ...], others: frozenset[tuple[int, ...]]) -> bool:
    # "March 2021" is supported by "5 March 2021" (a less precise statement of the same date).
    return date in others or any(o[: len(date)] == date for o in others)


def _supported(kind: str, fact: object, facts: Facts, text_lower: str) -> bool:
    if kind == "number":
        assert isinstance(fact, float)
        if fact in facts.numbers:
            return True
        # A year stated as part of a date on the other side.
        return any(float(d[0]) == fact for d in facts.dates)
    if kind == "date":
        assert isinstance(fact, tuple)
        return _date_supported(fact, facts.dates)
    assert isinstance(fact, str)
    return _entity_supported(fact, facts.entities, text_lower)


def _show(kind: str, fact: object) -> str:
    if kind == "number" and isinstance(fact, float):
        return f"{fact:g}"
    if kind == "date" and isinstance(fact, tuple):
        return "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(fact))
    return str(fact)


def fact_overlap(response: str, truth: str) -> MetricOutcome:
    proper = _mid_sentence_capitals(response) | _mid_sentence_capitals(truth)
    r_facts, t_facts = extract_facts(response, proper), extract_facts(truth, proper)
    r_items, t_items = r_facts.labelled(), t_facts.labelled()
    if not r_items and not t_items:
        score = tfidf_cosine(response, truth)
        return MetricOutcome(
            score, "lexical:tfidf-cosine",
            "no numbers, dates or names to check in either text; scored on content-word overlap",
        )
    unsupported = [(k, f) for k, f in r_items if not _supported(k, f, t_facts, truth.lower())]
    missing = [(k, f) for k, f in t_items if not _supported(k, f, r_facts, response.lower())]
    precision = 1.0 - len(unsupported) / len(r_items) if r_items else 0.0
    recall = 1.0 - len(missing) / len(t_items) if t_items else 1.0
    score = 0.8 * precision + 0.2 * recall
    notes = [
        f"{len(r_items) - len(unsupported)}/{len(r_items)} response facts supported"
        if r_items else "the response states none of the ground truth's facts"
    ]
    if unsupported:
        notes.append("not in ground truth: " + ", ".join(f"{k} {_show(k, f)}" for k, f in unsupported[:8]))
    if missing:
        notes.append("missing from response: " + ", ".join(f"{k} {_show(k, f)}" for k, f in missing[:8]))
    return MetricOutcome(score, "heuristic:fact-overlap", "; ".join(notes))


async def factual_consistency(ctx: MetricContext) -> MetricOutcome:
    if ctx.use_judge():
        return await judged(
            ctx,
            "Judge whether every factual claim in the response is consistent with the reference.",
            "Score 1 when all claims (numbers, dates, names, events) agree with the reference, "
            "0 when the response contradicts it; omissions cost less than contradictions.",
            prompt=ctx.prompt, reference=ctx.ground_truth_text,
        )
    return fact_overlap(ctx.response_text, ctx.ground_truth_text)
