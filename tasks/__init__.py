"""Executors: the bodies behind ``executor:`` references, run as Prefect task runs.

``runner`` holds the one generic Prefect task every node runs through (specialised with
``with_options`` once per executor/tags/retry/cache shape); ``registry`` finds a node's body from its executor reference;
``builtin`` has the orchestrator's own executors; the integration modules (``forge``,
``testbench``, ``optimizer``, ``governance``) call ecosystem clients.
"""
