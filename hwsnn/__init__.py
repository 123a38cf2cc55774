"""hwsnn: PyTorch ANN -> exact integer spiking network -> golden simulator, Lava, RTL."""

from .errors import HwsnnError

__version__ = "0.1.0"
__all__ = ["HwsnnError", "__version__"]
