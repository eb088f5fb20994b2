"""Hypothesis profiles for the fuzz tests: ``ci`` (the default, sized so the whole set adds well under a
minute to ``make test``) and ``fuzz`` (long runs: ``pytest -m fuzz --hypothesis-profile=fuzz``)."""

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])
# ci: the same examples on every run (a failure is reproducible, CI never flakes on a new random find)
settings.register_profile("ci", max_examples=40, derandomize=True, **_common)
# fuzz: fresh random examples, many more of them (run it when changing a parser)
settings.register_profile("fuzz", max_examples=2000, **_common)
settings.register_profile("fuzz-quick", max_examples=300, **_common)
settings.load_profile("ci")
