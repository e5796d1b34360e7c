"""Masking secrets in text: the one rule every output path uses.

A ``Redactor`` holds the secrets of a configuration (API keys, service tokens, database
passwords, webhook URLs) and replaces each occurrence with ``MASK``, longest first, so a key
that contains another is masked whole.  Secrets shorter than ``MIN_SECRET`` characters are not
masked: replacing a 3-character "secret" everywhere would mangle ordinary text and protect
nothing.  Errors from providers, log records, Prefect state messages, artifacts, the CLI's
output and audit-log messages all pass through one of these before anyone reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "**********"
MIN_SECRET = 4


class Redactor:
    __slots__ = ("_pattern", "secrets")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = frozenset(s for s in secrets if s and len(s) >= MIN_SECRET)
        ordered = sorted(self.secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def extended(self, more: Iterable[str | None]) -> Redactor:
        return Redactor([*self.secrets, *more])


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every one of ``secrets`` masked (see ``Redactor``)."""
    return Redactor(secrets).redact(text)
