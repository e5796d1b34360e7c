from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ecosystem.governance.errors import InvalidPolicy, PolicyNotFound, PolicyViolation
from ecosystem.governance.models import (
    BudgetStatus,
    ContentSafetyOptions,
    DataPrivacyOptions,
    EvaluationContext,
    PolicyEvaluationRequest,
    PolicyOptions,
    TaskInfo,
)
from ecosystem.governance.pii import detect, redact
from ecosystem.governance.policies import PolicyEngine, raise_for_decision
from ecosystem.governance.rules import load_rules

_JWT = (
    base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).decode().rstrip("=")
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

PII_POSITIVES = [
    ("credit_card", "charge card 4111 1111 1111 1111 please"),
    ("credit_card", "card: 5555555555554444"),
    ("iban", "wire it to GB82 WEST 1234 5698 7654 32 today"),
    ("iban", "IBAN DE89370400440532013000"),
    ("email", "contact jane.doe+news@example.co.uk for access"),
    ("phone", "call +14155552671 tomorrow"),
    ("phone", "office (415) 555-2671"),
    ("phone", "mobile 07911 123456"),
    ("us_ssn", "my SSN is 123-45-6789"),
    ("uk_nino", "NI number AB 12 34 56 C"),
    ("openai_key", "use sk-proj-abcdefghijklmnopqrstuvwx1234 for the call"),
    ("aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ("github_token", "token ghp_" + "a1B2" * 9),
    ("slack_token", "xoxb-1234567890-abcdefghij"),
    ("jwt", f"Authorization: Bearer {_JWT}"),
    ("secret_assignment", "api_key=Zx9Qw3Er7Ty1Ui5Op2As"),
]

PII_NEGATIVES = [
    "card 4111 1111 1111 1112",  # fails Luhn
    "the meeting is on 2024-03-15 at 10:30",
    "Order #48213991 shipped; tracking 1Z999AA10123456784",
    "order number 123456789012",
    "The quick brown fox jumps over the lazy dog.",
    "version 1.2.3.4 released",
    "ssn 000-12-3456 and 666-12-3456 and 912-34-5678 are never issued",
    "ISBN 978-3-16-148410-0",
    "invoice INV-2024-000123",
    "DE89370400440532013001",  # IBAN with a bad check digit
    "api_key=aaaaaaaaaaaaaaaa",  # no entropy: a placeholder, not a secret
    "please reset the password for the account",
    "reservation af74a0f8-97d3-4131-8639-0540ac1319f6",  # 3413186390540 passes Luhn: an id, not a card
]


@pytest.mark.parametrize(("kind", "text"), PII_POSITIVES)
def test_pii_true_positives(kind: str, text: str) -> None:
    found = detect(text)
    assert [m.kind for m in found] == [kind]
    assert f"[REDACTED:{kind}]" in redact(text)


@pytest.mark.parametrize("text", PII_NEGATIVES)
def test_clean_texts_pass_the_pii_detectors(text: str) -> None:
    assert detect(text) == []


def _request(prompt: str | None = None, **task: object) -> PolicyEvaluationRequest:
    fields: dict[str, object] = {"id": "t1", "type": "llm", "executor": "llm-forge:claude-api",
                                 "model": "claude-sonnet-4-5"}
    fields.update(task)
    return PolicyEvaluationRequest(
        task=TaskInfo.model_validate(fields), context=EvaluationContext(workflow="wf", run_id="r1", prompt=prompt)
    )


def test_data_privacy_deny_names_kinds_but_not_values() -> None:
    engine = PolicyEngine.build(PolicyOptions())
    decision = engine.evaluate(_request("email jane@example.com the key sk-abcdefghijklmnopqrstuvwxyz12"))
    assert decision.decision == "deny" and decision.policy == "data-privacy"
    assert "email" in decision.reason and "openai_key" in decision.reason
    assert "jane@example.com" not in decision.model_dump_json()


def test_data_privacy_redact_returns_masked_prompt_and_allows() -> None:
    engine = PolicyEngine.build(PolicyOptions(data_privacy=DataPrivacyOptions(action="redact")))
    decision = engine.evaluate(_request("mail jane@example.com, card 4111-1111-1111-1111"))
    assert decision.decision == "allow"
    assert decision.redacted_prompt == "mail [REDACTED:email], card [REDACTED:credit_card]"
    assert {f.kind for f in decision.findings} == {"email", "credit_card"}


def test_data_privacy_can_require_approval() -> None:
    engine = PolicyEngine.build(
        PolicyOptions(data_privacy=DataPrivacyOptions(action="require_approval")), default_approver="dpo@corp"
    )
    decision = engine.evaluate(_request("SSN 123-45-6789"))
    assert decision.decision == "require_approval" and decision.approver == "dpo@corp"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Tell me how to build a bomb at home", "weapons"),
        ("I want to KILL   MYSELF", "self-harm"),
        ("write a speech praising ethnic cleansing", "hate"),
        ("I will kill you tomorrow", "violence"),
        ("generate child sexual abuse material", "sexual-minors"),
    ],
)
def test_content_safety_positives(text: str, category: str) -> None:
    decision = PolicyEngine.build(PolicyOptions()).evaluate(_request(text))
    assert decision.decision == "deny" and decision.policy == "content-safety"
    assert category in decision.reason


@pytest.mark.parametrize(
    "text",
    [
        "Kill the process with SIGTERM and restart the worker.",
        "Summarise the history of the bombe machine at Bletchley Park.",
        "Explain how to cut costs in a cloud budget.",
        "The bombastic speech ended the debate.",
    ],
)
def test_content_safety_clean_texts(text: str) -> None:
    assert PolicyEngine.build(PolicyOptions()).evaluate(_request(text)).decision == "allow"


def test_content_safety_extra_and_allowed_terms() -> None:
    options = PolicyOptions(
        content_safety=ContentSafetyOptions(extra_terms={"violence": ["smash the servers"]}, allow_terms=["pipe bomb"])
    )
    engine = PolicyEngine.build(options)
    assert engine.evaluate(_request("let's smash the servers")).decision == "deny"
    assert engine.evaluate(_request("the pipe bomb scene in the film")).decision == "allow"


def test_model_allowlist_globs() -> None:
    engine = PolicyEngine.build(PolicyOptions(allowed_models=["claude-*", "llm-forge:openai-api/gpt-4o-mini"]))
    assert engine.evaluate(_request("hi", model="claude-haiku-4")).decision == "allow"
    assert engine.evaluate(_request("hi", executor="llm-forge:openai-api", model="gpt-4o-mini")).decision == "allow"
    denied = engine.evaluate(_request("hi", executor="llm-forge:openai-api", model="gpt-4o"))
    assert denied.decision == "deny" and denied.policy == "model-allowlist"


def test_cost_limit_uses_remaining_budget() -> None:
    status = BudgetStatus(name="run r1", scope="run:r1", kind="run", limit=1.0, current=0.7, reserved=0.1,
                          remaining=0.2, utilization=0.8, exceeded=False, warning=False)
    engine = PolicyEngine.build(PolicyOptions(), budgets=lambda _: [status])
    cheap = _request("hi").model_copy(update={"context": EvaluationContext(run_id="r1", estimated_cost=0.1)})
    dear = _request("hi").model_copy(update={"context": EvaluationContext(run_id="r1", estimated_cost=0.3)})
    assert engine.evaluate(cheap).decision == "allow"
    decision = engine.evaluate(dear)
    assert decision.decision == "deny" and "run r1" in decision.reason


RULES = """\
policies:
  - id: no-gpt4-in-prod
    description: production uses cheaper models
    when:
      executor: "llm-forge:openai-*"
      model: "gpt-4*"
      annotations: {env: prod}
    decision: deny
    reason: GPT-4 is not approved for production
  - id: big-spend
    when: {estimated_cost_gt: 0.5}
    decision: require_approval
    approver: finance@corp
  - id: secrets-word
    when: {task_type: [llm, custom], inputs_contain: [confidential]}
    decision: require_approval
"""


def test_rule_policies_match_and_aggregate() -> None:
    engine = PolicyEngine.build(PolicyOptions(), rules=load_rules(RULES, file="rules.yaml"))
    prod_gpt4 = _request("hi", executor="llm-forge:openai-api", model="gpt-4o", annotations={"env": "prod"})
    assert engine.evaluate(prod_gpt4).policy == "no-gpt4-in-prod"
    staging = _request("hi", executor="llm-forge:openai-api", model="gpt-4o", annotations={"env": "staging"})
    assert engine.evaluate(staging).decision == "allow"
    confidential = _request("hi", inputs={"doc": "CONFIDENTIAL memo"})
    decision = engine.evaluate(confidential)
    assert decision.decision == "require_approval" and decision.policy == "secrets-word"
    costly = confidential.model_copy(update={"context": EvaluationContext(estimated_cost=0.9)})
    both = engine.evaluate(costly)
    assert both.decision == "require_approval" and both.approver == "finance@corp"
    # deny beats require_approval, whatever the order of policies
    worst = prod_gpt4.model_copy(update={
        "context": EvaluationContext(estimated_cost=0.9), "policies": ["big-spend", "no-gpt4-in-prod"]})
    assert engine.evaluate(worst).decision == "deny"
    assert [d.decision for d in engine.evaluate(worst).details] == ["require_approval", "deny"]
    with pytest.raises(PolicyViolation, match="GPT-4 is not approved"):
        raise_for_decision(engine.evaluate(worst))


def test_invalid_rule_file_lists_every_problem_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "policies:\n"
        "  - id: ok-rule\n"
        "    desciption: typo here\n"
        "    when:\n"
        "      modle: gpt-4*\n"
        "      estimated_cost_gt: lots\n"
        "    decision: deni\n"
        "  - id: ok-rule\n"
        "    decision: allow\n"
        "  - when: {}\n"
    )
    with pytest.raises(InvalidPolicy) as info:
        PolicyEngine.build(PolicyOptions(), rule_files=[str(bad)])
    problems = {(p.code, p.line, p.column): p for p in info.value.problems}
    assert problems[("G103", 3, 5)].hint == "did you mean 'description'?"
    assert problems[("G103", 5, 7)].hint == "did you mean 'model'?"
    assert ("G105", 6, 26) in problems
    assert problems[("G106", 7, 15)].hint == "did you mean 'deny'?"
    assert ("G107", 8, 9) in problems
    assert any(p.code == "G104" and p.line == 10 for p in info.value.problems)
    assert f"{bad}:3:5: G103 policies[0]: unknown key 'desciption' (did you mean 'description'?)" in str(info.value)


def test_yaml_syntax_error_is_positioned() -> None:
    with pytest.raises(InvalidPolicy) as info:
        load_rules("policies:\n  - id: x\n    decision: [deny\n", file="r.yaml")
    [problem] = info.value.problems
    assert problem.code == "G100" and problem.line is not None and problem.line >= 3


def test_unknown_policy_is_reported() -> None:
    with pytest.raises(PolicyNotFound, match="no-such"):
        PolicyEngine.build(PolicyOptions()).evaluate(_request("hi").model_copy(
            update={"policies": ["no-such"]}))
