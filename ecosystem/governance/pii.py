"""PII and secret detection with validation, and the redactor every audit record goes through.

Each detector is a regular expression that finds candidates plus a validator that rejects look-
alikes, because a privacy policy that fires on dates and order numbers gets switched off:

* card numbers: 13-19 digits (spaces/dashes allowed), issuer prefix 2-6, **Luhn** checksum;
* IBANs: country code + check digits, per-country length when known, **ISO 7064 mod-97 == 1**;
* US SSNs: ``AAA-GG-SSSS`` with the never-issued ranges excluded (000, 666, 9xx, 00, 0000);
* UK NINOs: the HMRC prefix/letter rules;
* phone numbers: E.164 (``+`` and 8-15 digits) or separated national formats (US ``(555) 123-4567``,
  UK ``07911 123456``); a bare run of digits is not a phone number (it is an order number);
* secrets: ``sk-``/``sk-proj-``/``sk-ant-`` keys, AWS ``AKIA...``, GitHub ``gh[pousr]_...``, Slack
  ``xox[baprs]-...``, JWTs (header must decode to JSON with ``alg``), and ``key=value`` pairs
  whose key names a secret and whose value has high Shannon entropy.

``redact`` replaces every finding with ``[REDACTED:<kind>]``; overlapping findings merge.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DETECTORS", "PiiMatch", "detect", "redact", "redact_value"]


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    start: int
    end: int


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}  # fmt: skip


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def _card_valid(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _ssn_valid(text: str) -> bool:
    area, group, serial = re.split(r"[- ]", text)
    if area in {"000", "666"} or area.startswith("9") or group == "00" or serial == "0000":
        return False
    return text.replace(" ", "-") not in {"078-05-1120", "219-09-9999"}  # published specimen numbers


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    counts = {ch: value.count(ch) for ch in set(value)}
    return -sum((n / len(value)) * math.log2(n / len(value)) for n in counts.values())


def _jwt_valid(text: str) -> bool:
    header = text.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def _phone_valid(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 7 <= len(digits) <= 15


@dataclass(frozen=True, slots=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    validate: Callable[[str], bool] | None = None
    group: int = 0


_SECRET_KEY_NAMES = r"(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?key|auth[_-]?token|token|password|passwd|pwd|client[_-]?secret)"

DETECTORS: tuple[Detector, ...] = (
    Detector("email", re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    Detector("openai_key", re.compile(r"\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}")),
    Detector("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    Detector("github_token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    Detector("slack_token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}")),
    Detector(
        "jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        _jwt_valid,
    ),
    Detector(
        "secret_assignment",
        re.compile(rf"(?i)\b{_SECRET_KEY_NAMES}\s*[:=]\s*[\"']?([^\s\"',;]{{12,}})"),
        lambda value: shannon_entropy(value) >= 3.0,
        group=1,
    ),
    Detector("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), iban_valid),
    # Not glued to letters: a digit run inside an identifier (a UUID's "...97d3-4131-8639-0540ac...")
    # is not a card, and redacting it would corrupt reservation ids in audit details.
    Detector("credit_card", re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])"), _card_valid),
    Detector("us_ssn", re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"), _ssn_valid),
    Detector(
        "uk_nino",
        re.compile(
            r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
        ),
    ),
    Detector(
        "phone",
        re.compile(
            r"(?<![\w+])(?:"
            r"\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # international / E.164
            r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # US (555) 123-4567
            r"|\b\d{3}[.-]\d{3}[.-]\d{4}"  # US 555-123-4567
            r"|\b0\d{3,4} \d{3} ?\d{3,4}"  # UK 07911 123456, 020 7946 0958 style
            r"|\b0\d{2} \d{4} \d{4}"
            r")(?![\w-])"
        ),
        _phone_valid,
    ),
)

_BY_KIND = {detector.kind: detector for detector in DETECTORS}


def detect(text: str, kinds: Iterable[str] | None = None) -> list[PiiMatch]:
    """Every validated finding in ``text``, ordered by position, overlaps resolved (first, longest wins)."""
    selected = [_BY_KIND[k] for k in kinds if k in _BY_KIND] if kinds is not None else list(DETECTORS)
    found: list[PiiMatch] = []
    for detector in selected:
        for match in detector.pattern.finditer(text):
            value = match.group(detector.group)
            if detector.validate is not None and not detector.validate(value):
                continue
            found.append(PiiMatch(detector.kind, match.start(detector.group), match.end(detector.group)))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    resolved: list[PiiMatch] = []
    for item in found:
        if resolved and item.start < resolved[-1].end:
            continue
        resolved.append(item)
    return resolved


def redact(text: str, matches: list[PiiMatch] | None = None) -> str:
    """``text`` with each finding replaced by ``[REDACTED:<kind>]``."""
    matches = detect(text) if matches is None else matches
    out: list[str] = []
    cursor = 0
    for item in sorted(matches, key=lambda m: m.start):
        if item.start < cursor:
            continue
        out.append(text[cursor : item.start])
        out.append(f"[REDACTED:{item.kind}]")
        cursor = item.end
    out.append(text[cursor:])
    return "".join(out)


def redact_value(value: object) -> object:
    """Redact every string inside a JSON-like value (used for audit ``details``)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_inputs(inputs: dict[str, Any], redacted_prompt: str | None, detectors: list[str] | None) -> dict[str, Any]:
    """An llm task's inputs with the prompt replaced by its redacted form and personal data masked
    in ``system`` and every message (what the data-privacy policy's ``redact`` action sends)."""
    out = dict(inputs)
    if redacted_prompt is not None and out.get("prompt") is not None:
        out["prompt"] = redacted_prompt
    if isinstance(out.get("system"), str):
        out["system"] = redact(out["system"], detect(out["system"], detectors))
    if isinstance(out.get("messages"), list):
        out["messages"] = [
            {**m, "content": redact(str(m.get("content") or ""), detect(str(m.get("content") or ""), detectors))}
            if isinstance(m, Mapping) else m
            for m in out["messages"]
        ]
    return out
