"""The papers' conversion methods, one module each, and the registry that lowers each for a
step budget (see docs/methods.md).

- `spikezip`: ST-BIF conversion with Paths-Ensemble Training (PET) and Residual Connection
  Re-routing (RCR);
- `dualphase`: QC-ANN fine-tuning and the two-phase calibration of IF neurons;
- `calif`: Ca-LIF from a torch.ao QAT int8 model;
- QCFS and SlipReLU are activations (`hwsnn.convert`), iLIF (SpikeConverter) and IF are IR passes
  (`hwsnn.compile.to_ilif`, `to_if`); the registry combines them.

`get(name).lower(T)` gives a method's IR for a budget of T steps; the accuracy-vs-latency study
over all of them is `hwsnn.study`.
"""

from ._registry import METHODS, Lowered, get

__all__ = ["METHODS", "Lowered", "get"]
