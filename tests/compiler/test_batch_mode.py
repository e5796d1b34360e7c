"""``config.mode: batch``: where the compiler accepts it, where it refuses it, and the workflow default."""

from __future__ import annotations

from compiler.compile import compile_text

HEAD = """apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: batchy}
spec:
  inputs: [{name: docs, type: array}]
"""


def diagnostics(body: str) -> list[str]:
    return [f"{d.code} {d.line}:{d.column} {d.message}" for d in compile_text(HEAD + body, "wf.yaml").diagnostics]


def test_batch_on_a_fan_out_compiles_and_the_plan_says_so() -> None:
    plan = compile_text(HEAD + """  tasks:
    - id: summarize
      executor: llm-forge:claude-api
      forEach: ${{ workflow.inputs.docs }}
      inputs: {prompt: "${{ item }}", config: {mode: batch, model: claude-haiku-4-5}}
""").plan
    assert plan.nodes["summarize"].mode == "batch"
    assert "for each ${{ workflow.inputs.docs }} in batch mode" in str(plan)


def test_batch_without_for_each_on_a_tool_or_as_an_expression_is_an_error() -> None:
    found = diagnostics("""  tasks:
    - id: single
      executor: llm-forge:openai-api
      inputs: {prompt: hi, config: {mode: batch}}
    - id: dynamic
      executor: llm-forge:openai-api
      forEach: ${{ workflow.inputs.docs }}
      inputs: {prompt: hi, config: {mode: "${{ workflow.inputs.docs[0] }}"}}
    - id: wrong
      executor: llm-forge:gemini-api
      forEach: ${{ workflow.inputs.docs }}
      inputs: {prompt: hi, config: {mode: bulk}}
""")
    assert found == [
        "E307 9:43 mode 'batch' needs forEach: a batch is the items of one fan-out",
        "E307 13:43 config.mode must be written as 'online' or 'batch', not an expression "
        "('${{ workflow.inputs.docs[0] }}')",
        "E305 17:43 invalid value 'bulk' for input 'mode' of 'llm-forge:gemini-api': input should be 'online' or 'batch'",
    ]


def test_the_workflow_default_applies_to_inference_fan_outs_that_set_no_mode() -> None:
    plan = compile_text(HEAD + """  defaults: {mode: batch}
  tasks:
    - id: fan
      executor: llm-forge:offline
      forEach: ${{ workflow.inputs.docs }}
      inputs: {prompt: "${{ item }}"}
    - id: kept_online
      executor: llm-forge:offline
      forEach: ${{ workflow.inputs.docs }}
      inputs: {prompt: "${{ item }}", config: {mode: online}}
    - id: single
      executor: llm-forge:offline
      inputs: {prompt: once}
    - id: tool
      executor: orchestrator:template
      forEach: ${{ workflow.inputs.docs }}
      inputs: {template: "{{ x }}"}
""").plan
    modes = {node_id: node.mode for node_id, node in plan.nodes.items()}
    assert modes == {"fan": "batch", "kept_online": "online", "single": "online", "tool": "online"}
    assert plan.nodes["fan"].inputs["config"] == {"mode": "batch"}
    assert "config" not in plan.nodes["tool"].inputs and "config" not in plan.nodes["single"].inputs
