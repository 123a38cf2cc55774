"""What an energy run runs when the user does not say: its input and its number of steps.

Input (`default_input`): random integers, fixed seed, inside the input range the compiler
recorded in the IR's meta["input_range"] ([lo, hi] for every Source, or {source: [lo, hi]}),
intersected with what each Source accepts (its x_bits range; rate: 0..T; bits: 0..2^T-1).
Never outside it: a graph without meta["input_range"] raises and asks for --input.

Steps (`plan_steps`), in this order:
  1. the steps given (`--steps`);
  2. Ca-LIF: the window T of its nodes (the leak changes V at every window step, so there is
     no equilibrium to wait for); the settle phase then appends its own steps;
  3. IF or ILIF neurons with meta["steps"]: the method's own step count. IF neurons carry
     residual charge and are read at the method's T, not at an equilibrium; ILIF's schedule
     (accumulate / generate windows) fixes its length;
  4. otherwise until every sample has settled: golden runs (finals only) of 16, 32, 64, ...
     steps up to `cap` until `Trace.settled` holds for every sample; the run then takes the
     fewest steps at which it holds (max t_eq + 1, and past every input and bias release).
     If a sample is still changing at `cap`, meta["steps"] is used when recorded, else
     SimulationError asks for --steps or a larger cap.
"""

from dataclasses import dataclass

from ..errors import SimulationError
from ..ir import IF, ILIF, random_inputs
from ..ir import input_range as ir_input_range

__all__ = ["DEFAULT_SEED", "DEFAULT_CAP", "StepPlan", "default_input", "input_range",
           "plan_steps"]

DEFAULT_SEED = 0
DEFAULT_CAP = 4096


def input_range(graph, source):
    """(lo, hi) of the recorded meta["input_range"] for `source`, within what it accepts."""
    return ir_input_range(graph, source, required=True)


def default_input(graph, batch, seed=DEFAULT_SEED):
    """{source: (batch, *shape) int64} random integers in each source's `input_range`."""
    return random_inputs(graph, batch, seed, required=True)


@dataclass
class StepPlan:
    """The steps to run and why. `t_eq_max`/`t_eq_mean`: of the detection runs (rule "settled")."""

    steps: int
    rule: str                 # "given", "calif window", "meta", "settled"
    cap: int = None
    t_eq_max: int = None
    t_eq_mean: float = None

    def describe(self):
        if self.rule == "given":
            return f"{self.steps} (given)"
        if self.rule == "calif window":
            return f"{self.steps} (the Ca-LIF window), then the settle phase"
        if self.rule == "meta":
            why = f"; not every sample settled within {self.cap} steps" if self.cap else ""
            return f"{self.steps} (the method's step count, meta['steps']{why})"
        return (f"{self.steps} (until every sample settled: t_eq max {self.t_eq_max}, mean "
                f"{self.t_eq_mean:.2f}; detection capped at {self.cap} steps)")

    def to_dict(self):
        return {"steps": self.steps, "rule": self.rule, "cap": self.cap,
                "t_eq_max": self.t_eq_max, "t_eq_mean": self.t_eq_mean}


def _min_settled_steps(net, trace):
    """Fewest steps at which Trace.settled holds for every sample of `trace` (a longer run)."""
    return max(int(trace.t_eq.max()) + 1, net.ends() + 1)


def plan_steps(graph, x, steps=None, cap=DEFAULT_CAP):
    """StepPlan for running `graph` on input `x` (see the module docstring)."""
    from ..sim import Network, run
    if steps is not None:
        return StepPlan(int(steps), "given")
    net = Network(graph)
    if net.calif_T:
        return StepPlan(next(iter(net.calif_T)), "calif window")
    kinds = {type(graph.nodes[n]) for n in graph.neurons}
    meta = graph.meta.get("steps")
    if kinds & {IF, ILIF} and meta is not None:
        return StepPlan(int(meta), "meta")
    if cap < 1:
        raise SimulationError(f"the settle cap must be >= 1, not {cap}")
    n = min(16, cap)
    while True:
        tr = run(net, x, n, record=False)
        if tr.settled.all():
            return StepPlan(_min_settled_steps(net, tr), "settled", cap, int(tr.t_eq.max()),
                            float(tr.t_eq.mean()))
        if n >= cap:
            break
        n = min(2 * n, cap)
    if meta is not None:
        return StepPlan(int(meta), "meta", cap)
    left = int((~tr.settled).sum())
    raise SimulationError(f"graph '{graph.name}': {left} of {tr.batch} samples still change state "
                          f"after {cap} steps: pass --steps, or a larger --settle-cap")
