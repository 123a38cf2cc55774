"""StateRecorder: reads a Lava LIF's u and v and receives its spikes, every step, into a file.

The Loihi-native lowering (`_native_run.py`) records Lava's own LIF with it: one worker per
layer where Lava's Monitor needs three (its model holds one probe). u and v are read through
RefPorts in the post-management phase, after the step, as Monitor reads them; the spikes come
in through an InPort. Rows of int64 (u, v, s) are appended to the file `record`; the model does
no arithmetic on them.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

__all__ = ["StateRecorder", "StateRecorderModel"]


class StateRecorder(AbstractProcess):
    """Connect `u_ref.connect_var(lif.u)`, `v_ref.connect_var(lif.v)`, `lif.s_out.connect(s_in)`."""

    def __init__(self, *, shape, record, name=None):
        super().__init__(shape=shape, record=record, name=name)
        self.u_ref = RefPort(shape=shape)
        self.v_ref = RefPort(shape=shape)
        self.s_in = InPort(shape=shape)


@implements(proc=StateRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class StateRecorderModel(PyLoihiProcessModel):
    u_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, int)
    v_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, int)
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, int)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._path = proc_params["record"]
        self._s = None

    def run_spk(self):
        self._s = self.s_in.recv()

    def post_guard(self):
        return True

    def run_post_mgmt(self):
        rows = [np.asarray(r) for r in (self.u_ref.read(), self.v_ref.read(), self._s)]
        if any(r.dtype.kind not in "iub" for r in rows):  # never cast a value that is no integer
            raise TypeError(f"recorded u, v, s must be integers, not "
                            f"{[str(r.dtype) for r in rows]}")
        with open(self._path, "ab") as f:
            f.write(b"".join(np.ascontiguousarray(r, dtype=np.int64).tobytes() for r in rows))
