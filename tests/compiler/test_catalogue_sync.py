"""The compiler's metric list and executor catalogue stay in step with Test-Bench's registry."""

from __future__ import annotations

from compiler.catalogue import BUILTIN_EXECUTORS, KNOWN_METRICS, default_registry
from ecosystem.testbench import METRICS, known_metrics


def test_known_metrics_are_exactly_test_benchs_metrics() -> None:
    assert set(KNOWN_METRICS) == set(known_metrics()) == set(METRICS)
    assert len(KNOWN_METRICS) == len(set(KNOWN_METRICS)), "a metric is listed twice"


def test_every_metric_has_its_single_metric_executor() -> None:
    references = {spec.reference: spec for spec in BUILTIN_EXECUTORS}
    registry = default_registry()
    for metric in known_metrics():
        reference = f"llm-test-bench:{metric.replace('_', '-')}"
        assert reference in references, f"no executor {reference} for metric {metric}"
        spec = references[reference]
        assert spec.implementation == "tasks.testbench:run_single_metric"
        assert set(spec.outputs) == {"score", "passed", "metrics", "details"}
        found = registry.lookup(reference)
        assert found is not None and found.implementation == spec.implementation
    assert references["llm-test-bench:multi-metric"].implementation == "tasks.testbench:run_multi_metric"


def test_executor_bodies_exist() -> None:
    from tasks import testbench

    assert callable(testbench.run_multi_metric)
    assert callable(testbench.run_single_metric)
