"""The application layer: what a user runs, built from the core and the stages.

- :mod:`~rfpose.app.demo` — ``rfpose demo``: the whole pipeline on the simulated rig, with a report.
- :mod:`~rfpose.app.live` — the radar-only live pose pipeline (a trained run on incoming radar frames).
- :mod:`~rfpose.app.report`, :mod:`~rfpose.app.figures` — the HTML report and its figures.
- :mod:`~rfpose.app.benchmarking` — ``rfpose bench …``: the measurement suites and their table/JSON output.

Only this package and :mod:`rfpose.cli` may import every stage (docs/architecture.md).
"""
