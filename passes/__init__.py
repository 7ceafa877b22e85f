"""graphc's optimizer: passes as pure ``Graph -> Graph`` functions and the pipeline running them.

Contract of every pass: it never mutates its input, returns a valid graph (``verify()`` holds;
the tests check after every pass), preserves the values of the outputs (``stabilize`` changes
them only towards the exact value) and returns the very same object when it changes nothing, so
"fixpoint reached" is ``new is old``.

The pipeline is an explicit tuple of pass names, run round after round until a whole round
changes nothing. No registration by import side effect, no priorities. Rounds after the first
cost little on large graphs: each rule-based pass remembers the nodes its rules left unchanged
and only looks at the nodes built since (``passes.rewrite.remembering_stable_nodes``).

Bodies (graphs held by nodes: a ``scan``'s body, a custom derivative's function and rule) are
optimized by the same passes: :func:`make_pass` maps each pass over the bodies of a graph,
innermost first, and then runs it on the graph itself (``passes.rewrite.map_subgraphs``). Three
passes only concern loops: ``hoist`` moves loop-invariant work out of scan bodies,
``merge_scans`` lets one loop serve a scan and its copy that stores carries for reverse mode,
and ``prune_scans`` drops the results, carries and inputs of a scan that nothing needs. On a
graph without scans each is one walk over the nodes that changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphc.gcpause import paused_gc
from graphc.graph import Graph
from passes.cse import cse
from passes.dce import dce
from passes.expand import expand
from passes.fold_constants import fold_constants
from passes.hoist import hoist
from passes.rewrite import map_subgraphs, remembering_stable_nodes, rewrite
from passes.scans import merge_scans, prune_scans
from passes.share_products import share_products
from passes.simplify import make_rules
from passes.stabilize import stabilize

Pass = Callable[[Graph], Graph]


def _simplify(unsafe_math: bool) -> Pass:
    rules = make_rules(unsafe_math)
    return lambda graph: rewrite(graph, rules)


# The one table of passes: name -> the pass, given the ``unsafe_math`` option (only simplify
# uses it). Every pipeline is a tuple of names from this table.
PASSES: dict[str, Callable[[bool], Pass]] = {
    "simplify": _simplify,
    "fold_constants": lambda unsafe_math: fold_constants,
    "stabilize": lambda unsafe_math: stabilize,
    "cse": lambda unsafe_math: cse,
    "dce": lambda unsafe_math: dce,
    "expand": lambda unsafe_math: expand,
    "hoist": lambda unsafe_math: hoist,
    "merge_scans": lambda unsafe_math: merge_scans,
    "prune_scans": lambda unsafe_math: prune_scans,
    "share_products": lambda unsafe_math: share_products,
}
PASS_NAMES: tuple[str, ...] = tuple(PASSES)

# What gc.optimize and gc.compile run, to a fixpoint. CSE first: the rules then look at each
# value once, and a round after the last change finds every node known stable. (Run after the
# rules, CSE rebuilt every node after its first merge, so the next round's rules examined every
# node again: the 10k-node DAG's optimizer took 140 ms against 100 ms.)
DEFAULT_PIPELINE: tuple[str, ...] = (
    "cse",
    "simplify",
    "fold_constants",
    "stabilize",
    "hoist",
    "merge_scans",
    "prune_scans",
    "share_products",
    "dce",
)
# What gc.compile runs after the optimizer, once: the ops the backend has no lowering for are
# expanded into ones it has (each op's record says how); CSE merges what expansions share (the
# LU factorisation of A that solve(A) and its gradient's solve(A.T) both build), then the
# replaced nodes are erased.
LOWERING_PIPELINE: tuple[str, ...] = ("expand", "cse", "dce")

# Each round can only shrink or keep the graph (up to a constant per rewrite); real graphs reach
# the fixpoint in 2-4 rounds. The bound only guards against a rule pair undoing each other.
MAX_ROUNDS = 30


def make_pass(name: str, unsafe_math: bool = False) -> Pass:
    """The pass called ``name``, with its options bound, applied inside bodies too."""
    factory = PASSES.get(name)
    if factory is None:
        raise ValueError(f"unknown pass {name!r}; the passes are {', '.join(PASS_NAMES)}")
    function = factory(unsafe_math)
    key = (name, unsafe_math)

    def apply(graph: Graph) -> Graph:
        # A pass is a pure function: a graph it left unchanged once (with its bodies) it leaves
        # unchanged again. Remembered on the graph, so a body is not re-walked every round.
        fixed = graph.__dict__.setdefault("_fixed_under", set())
        if key in fixed:
            return graph
        new = function(map_subgraphs(graph, apply))
        if new is graph:
            fixed.add(key)
        return new

    return apply


@dataclass(frozen=True)
class PassStat:
    round: int
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    changed: bool


@dataclass(frozen=True)
class PipelineResult:
    graph: Graph
    stats: tuple[PassStat, ...]
    rounds: int

    def summary(self) -> str:
        """A table of what each pass did, round by round."""
        lines = [f"{'round':>5} {'pass':<15} {'before':>8} {'after':>8} {'ms':>9}"]
        for s in self.stats:
            lines.append(
                f"{s.round:>5} {s.name:<15} {s.nodes_before:>8} {s.nodes_after:>8} "
                f"{s.seconds * 1e3:>9.2f}"
            )
        return "\n".join(lines)


def run(
    graph: Graph,
    pipeline: Sequence[str] = DEFAULT_PIPELINE,
    *,
    unsafe_math: bool = False,
    on_pass: Callable[[str, Graph], None] | None = None,
    verify: bool = False,
    max_rounds: int = MAX_ROUNDS,
) -> PipelineResult:
    """Run ``pipeline`` to a fixpoint; ``on_pass(name, graph)`` sees the graph after each pass."""
    passes = [(name, make_pass(name, unsafe_math)) for name in pipeline]
    stats: list[PassStat] = []
    with paused_gc(), remembering_stable_nodes():
        graph, rounds = _run_rounds(graph, passes, stats, on_pass, verify, max_rounds)
    return PipelineResult(graph, tuple(stats), rounds)


def _run_rounds(graph, passes, stats, on_pass, verify, max_rounds):
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        changed_in_round = False
        for name, function in passes:
            start = time.perf_counter()
            new = function(graph)
            elapsed = time.perf_counter() - start
            changed = new is not graph
            stats.append(PassStat(rounds, name, len(graph.nodes), len(new.nodes), elapsed, changed))
            if verify:
                new.verify()
            if on_pass is not None:
                on_pass(name, new)
            changed_in_round |= changed
            graph = new
        if not changed_in_round:
            break
    return graph, rounds


__all__ = [
    "DEFAULT_PIPELINE",
    "LOWERING_PIPELINE",
    "PASSES",
    "PASS_NAMES",
    "PassStat",
    "PipelineResult",
    "make_pass",
    "run",
    "cse",
    "dce",
    "expand",
    "fold_constants",
    "hoist",
    "merge_scans",
    "prune_scans",
    "share_products",
    "stabilize",
]
