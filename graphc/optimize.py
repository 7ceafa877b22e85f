"""``gc.optimize``: the passes pipeline as one call. ``passes`` is imported here, lazily, so the
two top-level packages never import each other at module load."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from graphc.graph import Graph


def optimize(
    graph: Graph,
    *,
    pipeline: Sequence[str] | None = None,
    unsafe_math: bool = False,
    on_pass: Callable[[str, Graph], None] | None = None,
    verify: bool = False,
) -> Graph:
    """The optimized graph: same inputs and outputs, same values, usually far fewer nodes.

    ``pipeline`` names the passes (default ``passes.DEFAULT_PIPELINE``), run to a fixpoint.
    ``unsafe_math`` enables rewrites that can change results (see ``passes.simplify``).
    ``on_pass(name, graph)`` is called after every pass, e.g. to dump DOT; ``verify`` checks the
    graph's invariants after every pass. For per-pass statistics use ``passes.run``.
    """
    import passes

    chosen = passes.DEFAULT_PIPELINE if pipeline is None else tuple(pipeline)
    return passes.run(graph, chosen, unsafe_math=unsafe_math, on_pass=on_pass, verify=verify).graph
