"""Plans become Prefect flow runs: the generic async flow, its scheduler, hooks and reports.

``workflow.run_workflow`` is the single flow every run and deployment uses; ``scheduler``
decides what starts when and what each task's final state is; ``records`` holds the run's
results; ``services`` builds the ecosystem clients a run needs from its settings.
"""
