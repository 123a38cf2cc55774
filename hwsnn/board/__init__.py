"""Host side of a board running hwsnn's RTL: frames, ports (serial, simulation), the run that
compares every answer with the golden simulator."""

from ._frames import crc16, frame, run_payload
from ._host import BAD_FRAMES, Host, SerialPort
from ._ports import open_port
from ._run import run_on_board

__all__ = ["Host", "SerialPort", "open_port", "run_on_board", "frame", "run_payload", "crc16", "BAD_FRAMES"]
