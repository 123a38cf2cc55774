import os
import sys

import torch

# tests import helpers from their own folders (tests/sim/nets.py, ...)
sys.path.insert(0, os.path.dirname(__file__))
torch.set_num_threads(1)
