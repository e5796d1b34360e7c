"""Compile time against PyYAML's own parse of the same text, at 100, 1,000 and 10,000 tasks, and
on hostile files: an alias bomb and a workflow of 2,000 typos.

Workflows are generated with an expression in every task (data edges to earlier tasks, some
`if` conditions and explicit `dependsOn`), so the figure includes parsing every `${{ }}`, the
reference checks and the plan.  Baselines, timed on the same text in the same run:
`yaml.safe_load` (pure Python), and PyYAML's C loader (`yaml.CSafeLoader`, libyaml) both as
called (`compile_vs_csafeloader_1000`) and with the cyclic GC paused as the compiler pauses it
(`compile_vs_c_yaml_*`; the collector alone makes the C loader 15x slower at 10,000 tasks than
at 1,000).  Every measurement is the best of ``ROUNDS`` rounds, and the rounds interleave all the
cases, so a noisy neighbour slows every case alike; the process's CPU time is taken too
(``*_cpu`` keys), as a check on wall-clock ratios when the machine is shared.  Every measured
compile starts with an empty expression memo (a cold compile).

Targets (issues 2 and 12): compile <= 3x the pure-Python parse at 1,000 tasks; 10,000 tasks
<= 12x the time of 1,000 (near-linear); the alias bomb, the same bomb ten times in one
file, and the 2,000-typo file each compile (to their diagnostics) in under 1 s and print under
100 KB.  The last line is one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compiler.compile import CompileResult, compile_text  # noqa: E402
from compiler.expressions.parser import _parse_cached  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_COMPILE_ROUNDS", "5"))
nan = float("nan")
SIZES = (100, 1_000, 10_000)

# The classic "billion laughs" (342 bytes): nine levels of nine aliases, 9**9 strings if expanded.
ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def cold_compile(text: str, file: str = "g.yaml") -> CompileResult:
    """A compile as a new file gets it: no expression already in the parser's memo."""
    _parse_cached.cache_clear()
    return compile_text(text, file)


HAVE_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))


def c_yaml(text: str) -> object:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def c_yaml_no_gc(text: str) -> object:
    """The C loader under the compiler's own condition: the cyclic collector paused."""
    gc.disable()
    try:
        return yaml.load(text, Loader=yaml.CSafeLoader)
    finally:
        gc.enable()


def generate(n: int) -> str:
    lines = [
        "apiVersion: orchestrator.llm/v1",
        "kind: Workflow",
        "metadata:",
        f"  name: generated-{n}",
        "  version: 1.0.0",
        "spec:",
        "  inputs:",
        "    - {name: topic, type: string, required: true}",
        "    - {name: enabled, type: boolean, default: true}",
        "  tasks:",
    ]
    for i in range(n):
        lines.append(f"    - id: t{i}")
        lines.append("      executor: orchestrator:template")
        if i % 10 == 5:
            lines.append("      if: ${{ workflow.inputs.enabled && tasks.t" + str(i - 1) + ".status == 'completed' }}")
        if i >= 3 and i % 7 == 0:
            lines.append(f"      dependsOn: [t{i - 3}]")
        lines.append("      inputs:")
        lines.append("        template: \"{{ prev }} about {{ topic }}\"")
        lines.append("        values:")
        previous = f"${{{{ tasks.t{i - 1}.outputs.text }}}}" if i else "start"
        lines.append(f"          prev: \"{previous}\"")
        lines.append("          topic: ${{ upper(workflow.inputs.topic) }}")
        lines.append("      outputs:")
        lines.append("        text: string")
    return "\n".join(lines) + "\n"


def typos(n: int, *, fixed: bool = False) -> str:
    """``n`` tasks; each depends on 'sumarize' (close to no task id) and reads tsak_<i> (a near
    miss of task_<i>).  ``fixed``: the same file with correct references."""
    lines = ["apiVersion: orchestrator.llm/v1", "kind: Workflow", "metadata: {name: typos}", "spec:", "  tasks:"]
    for i in range(n):
        dep, read = (f"task_{i - 1}", f"task_{i - 1}") if fixed else ("sumarize", f"tsak_{i}")
        lines.append(f"    - id: task_{i}")
        lines.append("      executor: orchestrator:template")
        if i or not fixed:
            lines.append(f"      dependsOn: [{dep}]")
            lines.append(f"      inputs: {{template: \"${{{{ tasks.{read}.outputs.text }}}}\"}}")
        else:
            lines.append("      inputs: {template: start}")
        lines.append("      outputs: {text: string}")
    return "\n".join(lines) + "\n"


def printed(result: CompileResult) -> int:
    """Bytes `llm-orchestrator validate` prints for the result (one rendered diagnostic a line)."""
    return sum(len(d.render().encode()) + 1 for d in result.diagnostics)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call after a full collection, keeping the result alive until
    the clocks stop (freeing a 10,000-task result is not part of producing it)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del result
    return wall, cpu


def main() -> None:
    texts = {n: generate(n) for n in SIZES}
    hostile = {
        "alias_bomb": ALIAS_BOMB,
        "alias_bomb_10_docs": "---\n".join([ALIAS_BOMB] * 10),
        "typos_2000": typos(2_000),
        "typos_2000_fixed": typos(2_000, fixed=True),
    }
    for n, text in texts.items():
        result = compile_text(text, f"generated-{n}.yaml")
        assert result.ok, result.errors[:3]
        assert len(result.plan.nodes) == n
    output = {name: printed(cold_compile(text, f"{name}.yaml")) for name, text in hostile.items()}
    assert cold_compile(hostile["typos_2000_fixed"]).ok

    cases: dict[str, Callable[[], object]] = {}
    for n, text in texts.items():
        cases[f"compile_{n}"] = lambda text=text: cold_compile(text)  # type: ignore[misc]
        if HAVE_LIBYAML:
            cases[f"c_{n}"] = lambda text=text: c_yaml(text)  # type: ignore[misc]
            cases[f"c_no_gc_{n}"] = lambda text=text: c_yaml_no_gc(text)  # type: ignore[misc]
        if n <= 1_000:  # the pure-Python parse of 10,000 tasks takes ~9 s a round and no target uses it
            cases[f"yaml_{n}"] = lambda text=text: yaml.safe_load(text)  # type: ignore[misc]
    for name, text in hostile.items():
        cases[name] = lambda name=name, text=text: cold_compile(text, f"{name}.yaml")  # type: ignore[misc]
    best = dict.fromkeys(cases, float("inf"))
    cpu = dict.fromkeys(cases, float("inf"))
    for _ in range(ROUNDS):
        for name, fn in cases.items():
            wall_time, cpu_time = timed(fn)
            best[name], cpu[name] = min(best[name], wall_time), min(cpu[name], cpu_time)

    if not HAVE_LIBYAML:
        print("PyYAML has no libyaml here: the C-loader baselines are not measured (null below)")
    print(f"{'tasks':>7} {'yaml.safe_load':>15} {'CSafeLoader':>12} {'C, no GC':>9} {'compile':>9} "
          f"{'compile/yaml':>13} {'compile/C':>10} {'compile/C no GC':>16}")
    for n in SIZES:
        y = best.get(f"yaml_{n}")
        c, cn, comp = best.get(f"c_{n}", nan), best.get(f"c_no_gc_{n}", nan), best[f"compile_{n}"]
        print(f"{n:>7} {f'{y:.4f}s' if y else '-':>15} {c:>11.4f}s {cn:>8.4f}s {comp:>8.4f}s "
              f"{f'{comp / y:.2f}' if y else '-':>13} {comp / c:>10.2f} {comp / cn:>16.2f}")
    for name in hostile:
        print(f"{name:>20}: {best[name]:.4f}s (CPU {cpu[name]:.4f}s), prints {output[name]:,} bytes")
    def ratio(a: str, b: str) -> float | None:
        return round(best[a] / best[b], 3) if a in best and b in best else None

    print(json.dumps({
        "bench": "compile",
        "compile_vs_yaml_1000": round(best["compile_1000"] / best["yaml_1000"], 3),
        "scale_10000_vs_1000": round(best["compile_10000"] / best["compile_1000"], 3),
        "scale_10000_vs_1000_cpu": round(cpu["compile_10000"] / cpu["compile_1000"], 3),
        "compile_vs_csafeloader_1000": ratio("compile_1000", "c_1000"),
        "compile_seconds_10000": round(best["compile_10000"], 4),
        "libyaml": HAVE_LIBYAML,
        "compile_vs_c_yaml_1000": ratio("compile_1000", "c_no_gc_1000"),
        "compile_vs_c_yaml_10000": ratio("compile_10000", "c_no_gc_10000"),
        "compile_vs_c_yaml_10000_cpu": round(cpu["compile_10000"] / cpu["c_no_gc_10000"], 3) if HAVE_LIBYAML else None,
        "c_yaml_scale_10000_vs_1000": ratio("c_no_gc_10000", "c_no_gc_1000"),
        "alias_bomb_s": round(best["alias_bomb"], 4),
        "alias_bomb_output_bytes": output["alias_bomb"],
        "alias_bomb_10_docs_s": round(best["alias_bomb_10_docs"], 4),
        "alias_bomb_10_docs_output_bytes": output["alias_bomb_10_docs"],
        "typos_2000_s": round(best["typos_2000"], 4),
        "typos_2000_output_bytes": output["typos_2000"],
        "typos_2000_fixed_s": round(best["typos_2000_fixed"], 4),
    }))


if __name__ == "__main__":
    main()
