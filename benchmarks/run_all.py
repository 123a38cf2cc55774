"""Run every benchmark script in this folder, one after the other (`make bench`)."""

import subprocess
import sys
from pathlib import Path

SCRIPTS = ["sim_speed.py", "compile_speed.py", "lava_vs_golden.py", "rtl_throughput.py",
           "demo_memory.py", "peer_spikingjelly.py", "snntorch_digits.py"]

if __name__ == "__main__":
    here = Path(__file__).parent
    failed = []
    for name in SCRIPTS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(here / name)]).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
        sys.exit(1)
