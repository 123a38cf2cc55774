"""Host side of a board running hwsnn's RTL: frames, ports (serial, simulation), the run that
compares every answer with the golden simulator."""
