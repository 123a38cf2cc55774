"""Hypothesis profiles of the suite (loaded by tests/conftest.py)."""

import os

# hypothesis: "ci" draws the same examples every run (derandomize: a failure reproduces, and what
# a run catches does not vary); "dev" draws new random examples each run and keeps failures in
# the local example database. HYPOTHESIS_PROFILE picks one by name; otherwise CI (env CI or
# HWSNN_REQUIRE_BACKENDS=1) gets "ci" and a local run "dev". Tests set their own max_examples.
from hypothesis import HealthCheck, Phase, settings

settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", derandomize=False, deadline=None, max_examples=200, print_blob=True)
# benchmarks/mutation.py: the ci draws without shrinking (a mutant only has to fail, and fast)
settings.register_profile("mutation", parent=settings.get_profile("ci"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])


def hypothesis_profile(env=os.environ):
    if env.get("HYPOTHESIS_PROFILE"):
        return env["HYPOTHESIS_PROFILE"]
    return "ci" if env.get("CI") or env.get("HWSNN_REQUIRE_BACKENDS") == "1" else "dev"


def load_profile(env=os.environ):
    settings.load_profile(hypothesis_profile(env))
