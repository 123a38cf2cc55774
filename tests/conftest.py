import os
import sys

import torch

# tests import helpers from their own folders (tests/sim/nets.py, ...)
sys.path.insert(0, os.path.dirname(__file__))
torch.set_num_threads(1)

from hypothesis_profiles import load_profile  # noqa: E402

load_profile()

# HWSNN_REQUIRE_BACKENDS=1 (CI): a missing back end fails the run, a skip is a failure
from require_backends import (check_session, pytest_make_collect_report,  # noqa: E402,F401
                              pytest_runtest_makereport)


def pytest_configure(config):
    check_session()
