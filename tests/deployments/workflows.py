"""Workflow documents the deployment tests write to files."""

from __future__ import annotations

from pathlib import Path


def scheduled(name: str = "nightly-digest", schedule: str = 'cron: "30 6 * * 1-5"\n    timezone: Europe/Paris',
              inputs: str = "topic: markets") -> str:
    return f"""\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata:
  name: {name}
  version: 2.1.0
  description: A digest on a schedule.
  labels: {{team: research}}
spec:
  inputs:
    - {{name: topic, type: string, required: true}}
  schedule:
    {schedule}
    inputs: {{{inputs}}}
  tasks:
    - id: say
      executor: orchestrator:template
      inputs:
        template: "digest of {{{{ topic }}}}"
        values: {{topic: "${{{{ workflow.inputs.topic }}}}"}}
      outputs: {{text: string}}
  outputs:
    text: ${{{{ tasks.say.outputs.text }}}}
"""


def fan_out(name: str = "fan-out") -> str:
    """An offline llm call per item (no cache), then a transform over all of them."""
    return f"""\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {{name: {name}}}
spec:
  inputs:
    - {{name: items, type: array, required: true}}
  concurrency: {{maxParallelTasks: 16}}
  tasks:
    - id: shout
      type: llm
      executor: llm-forge:claude-api
      forEach: ${{{{ workflow.inputs.items }}}}
      inputs:
        prompt: "item ${{{{ index }}}}: ${{{{ item }}}}"
        config: {{model: claude-haiku-4-5, max_tokens: 20}}
      outputs: {{response: string}}
    - id: count
      executor: orchestrator:template
      inputs:
        template: "{{{{ n }}}} responses, first: {{{{ first }}}}"
        values:
          n: ${{{{ len(tasks.shout.outputs.response) }}}}
          first: ${{{{ tasks.shout.outputs.response[0] }}}}
      outputs: {{text: string}}
  outputs:
    responses: ${{{{ tasks.shout.outputs.response }}}}
    text: ${{{{ tasks.count.outputs.text }}}}
"""


BROKEN = """\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: broken}
spec:
  tasks:
    - id: a
      executor: llm-forge:claude-api
      inputs: {prompt: "${{ tasks.nope.outputs.response }}"}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path
