"""Deployments: workflow files -> Prefect deployments and prefect.yaml (``build``, ``apply``),
and a real server/worker harness for tests and benches (``testing``).  The Dask task runner is
``flows.taskrunner``; the command line is ``llm_orchestrator/cli_deploy.py``."""
