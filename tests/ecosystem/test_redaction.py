"""The one redaction rule (ecosystem.redaction): every secret masked, longest first."""

from __future__ import annotations

from ecosystem.redaction import MASK, Redactor, redact


def test_every_secret_is_masked_and_the_longest_first() -> None:
    text = "key sk-abc123456 and sk-abc123456789 and token tok-999"
    assert redact(text, {"sk-abc123456", "sk-abc123456789", "tok-999"}) == f"key {MASK} and {MASK} and token {MASK}"


def test_short_and_empty_secrets_are_not_masked() -> None:
    redactor = Redactor(["abc", "", None, "abcd"])
    assert redactor.redact("abc abcd") == f"abc {MASK}"
    assert not Redactor(["ab", None])


def test_regex_characters_in_a_secret_are_literal() -> None:
    assert Redactor(["a.b*c+"]).redact("xa.b*c+y axbbc") == f"x{MASK}y axbbc"
