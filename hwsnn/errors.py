"""Exception hierarchy. Every error hwsnn raises on bad input is an `HwsnnError`.

Messages name the node, layer or file and say expected vs. actual, e.g.
``node 'fc1': W must fit int8, not values in [-200, 90]``.
"""

__all__ = [
    "HwsnnError", "IRError", "IRFormatError", "ShapeError", "RangeError",
    "ConversionError", "UnsupportedLayerError", "TraceError", "CompileError",
    "SimulationError", "BackendError", "BackendUnavailableError", "MismatchError",
    "TargetError", "MappingError", "ClusterError", "NIRError",
]


class HwsnnError(Exception):
    """Base class of every error hwsnn raises on bad input or an impossible request."""


class IRError(HwsnnError):
    """The IR graph is inconsistent (shape, width, missing input, cycle, unknown type)."""


class IRFormatError(IRError):
    """An IR file cannot be read: not a zip, truncated, wrong version, missing array."""


class ShapeError(HwsnnError):
    """An input array does not have the shape the network expects."""


class RangeError(HwsnnError):
    """A value or register does not fit its declared bit width."""


class ConversionError(HwsnnError):
    """The float model cannot be converted."""


class UnsupportedLayerError(ConversionError):
    """A module has no conversion rule; the message names its module path."""


class TraceError(ConversionError):
    """torch.fx cannot trace the model."""


class CompileError(HwsnnError):
    """Lowering to the integer IR failed."""


class SimulationError(HwsnnError):
    """The simulator was given inputs it cannot run, or a register overflowed."""


class BackendError(HwsnnError):
    """A back end (Lava, RTL) failed."""


class BackendUnavailableError(BackendError):
    """A back end's dependency (lava-nc, a HDL simulator) is missing; says how to install."""


class MismatchError(HwsnnError):
    """Two executors disagree; carries the first divergence."""


class TargetError(HwsnnError):
    """A hardware target description file is malformed; names the file and key."""


class MappingError(HwsnnError):
    """A network does not fit a target; names layer, limit and excess."""


class ClusterError(HwsnnError):
    """Sharded work failed: Ray missing, a shard failed twice, a cluster address unreachable."""


class NIRError(HwsnnError):
    """A NIR file cannot be read or imported/exported: names the file, node and key."""
