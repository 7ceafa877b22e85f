"""``gc.dask``: compiled functions over Dask arrays, on threads or on a cluster.

``gc.dask.batch(fn, *args)`` is ``fn.batch`` for arrays that do not fit in one machine's memory
(or that live on a ``dask.distributed`` cluster): each argument is a Dask array of rows (shape
``(N, *input_shape)``, split only along the rows), or one value for every row (a numpy array or
number of the input's shape, or such a Dask array); the result is one Dask array of rows per
output, chunked like the rows of the arguments. Each block is one native ``fn.batch`` call.

Invariants:
- Arguments are checked when the graph is built, not when it runs: shapes, row counts, dtypes
  (by :func:`graphc.arguments.check_batch`, the rule of ``fn.batch``) and chunks (a block must
  hold whole rows), each error naming the input.
- The compiled function is one node of the Dask graph (a ``dask.delayed`` value keyed by its
  content), so a distributed cluster ships it, object code included (it pickles with it), once
  to each worker that needs it, instead of with every task; a worker loads it without running
  LLVM.
- This module imports dask only when it is imported itself (``gc.dask`` is loaded on first
  use), so dask stays an optional dependency: ``pip install 'graphc[dask]'``.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - only without the optional dependency
    raise ImportError(
        "gc.dask needs dask: pip install 'graphc[dask]' (or dask[array] and distributed)"
    ) from error

from graphc import arguments
from graphc.jit.function import CompiledFunction
from graphc.shapes import fmt

__all__ = ["batch"]


def batch(fn: CompiledFunction, *args, **kwargs):
    """Evaluate ``fn`` on every row of Dask arrays; returns a Dask array of rows per output (one
    array for a graph with a single output node, else a tuple, as ``fn.batch`` does).

    Each argument (positional or by input name) is a Dask array of shape ``(N, *shape)`` split
    only along its first axis (rechunk with ``x.rechunk({1: -1, ...})`` otherwise), or one value
    for every row: a number, a numpy array or a Dask array of the input's shape. The blocks are
    those of the first Dask argument with rows: numpy arrays of rows, and Dask arrays split
    otherwise, are split like it. Nothing is computed until ``.compute()`` (or
    ``dask.compute``) is called.
    """
    if not isinstance(fn, CompiledFunction):
        raise TypeError(f"gc.dask.batch: expected a compiled function, got {type(fn).__name__}")
    graph = fn.graph
    values = arguments.bind(graph.input_names, args, kwargs)
    rows, chunks = None, None
    plan: list[tuple[str, Any]] = []  # ("rows", array) | ("fixed", value) | ("whole", dask array)
    for node, value in zip(graph.inputs, values):
        if isinstance(value, da.Array):
            kind, value = _dask_argument(node, value)
        else:
            array, batched = arguments.check_batch(node, value)
            kind, value = ("rows", array) if batched else ("fixed", array)
        if kind == "rows":
            if rows is not None and value.shape[0] != rows:
                raise ValueError(
                    f"gc.dask.batch: arguments have different numbers of rows ({rows} and "
                    f"{value.shape[0]}, input {node.name!r})"
                )
            rows = value.shape[0]
            if chunks is None and isinstance(value, da.Array):
                chunks = value.chunks[0]
        plan.append((kind, value))
    if rows is None:
        raise ValueError("gc.dask.batch: no argument has rows (shape (N, *input_shape))")
    if chunks is None:
        raise TypeError(
            "gc.dask.batch: no argument is a Dask array of rows; use fn.batch for numpy arrays"
        )

    row_args, layout, fixed, whole = [], [], {}, {}
    for k, (kind, value) in enumerate(plan):
        layout.append(kind)
        if kind == "rows":
            if not isinstance(value, da.Array):  # numpy rows, split like the Dask ones
                value = da.from_array(value, chunks=(chunks, *value.shape[1:]))
            elif value.chunks[0] != chunks:  # split otherwise: like the first Dask argument
                value = value.rechunk({0: chunks})
            row_args.append(value)
        elif kind == "fixed":
            fixed[k] = value
        else:
            whole[f"gc_whole{k}"] = value
    ins = ",".join(
        _dims("i", k, n.shape) for k, n in enumerate(graph.inputs) if layout[k] == "rows"
    )
    outs = [_dims("o", k, n.shape) for k, n in enumerate(graph.outputs)]
    sizes = {
        f"o{k}_{axis}": extent
        for k, node in enumerate(graph.outputs)
        for axis, extent in enumerate(node.shape)
    }
    block = partial(_block, tuple(layout), fixed, len(graph.outputs))
    results = da.apply_gufunc(
        block,
        f"{ins}->{','.join(outs) if len(outs) > 1 else outs[0]}",
        *row_args,
        output_dtypes=[np.dtype(n.dtype) for n in graph.outputs]
        if len(outs) > 1
        else np.dtype(graph.outputs[0].dtype),
        output_sizes=sizes,
        gc_fn=_delayed_function(fn),
        **whole,
    )
    if graph.single_output:
        return results
    return tuple(results) if len(outs) > 1 else (results,)


def _dask_argument(node, value: da.Array) -> tuple[str, da.Array]:
    """("rows", value) or ("whole", value) for a Dask argument, after every check."""
    if any(np.isnan(extent) for extent in value.shape):
        raise ValueError(
            f"gc.dask.batch: input {node.name!r} has unknown chunk sizes (shape {value.shape}); "
            "call .compute_chunk_sizes() on it first"
        )
    batched = value.ndim == node.ndim + 1 and tuple(value.shape[1:]) == node.shape
    if not batched and tuple(value.shape) != node.shape:
        raise ValueError(
            f"gc.dask.batch: input {node.name!r} of shape {fmt(node.shape)} expects a Dask "
            f"array of shape (N, {', '.join(map(str, node.shape))}) or {fmt(node.shape)}, got "
            f"{fmt(tuple(value.shape))}"
        )
    # The dtype rule of fn.batch, checked now on an empty array of the same dtype.
    sample = np.empty((0, *node.shape) if batched else node.shape, dtype=value.dtype)
    arguments.check_batch(node, sample)
    if not batched:
        return "whole", value.rechunk(-1) if value.ndim else value
    split = [axis for axis in range(1, value.ndim) if len(value.chunks[axis]) > 1]
    if split:
        fix = ", ".join(f"{axis}: -1" for axis in split)
        raise ValueError(
            f"gc.dask.batch: input {node.name!r} is split along axis {split[0]} (chunks "
            f"{value.chunks}); a block must hold whole rows: pass x.rechunk({{{fix}}})"
        )
    return "rows", value


def _dims(prefix: str, k: int, shape: tuple[int, ...]) -> str:
    return "(" + ",".join(f"{prefix}{k}_{axis}" for axis in range(len(shape))) + ")"


def _delayed_function(fn: CompiledFunction):
    """``fn`` as one node of the Dask graph, keyed by its content, so equal functions share it."""
    digest = hashlib.sha256(fn.graph.structural_hash.encode())
    digest.update(repr(sorted(fn.stats.get("options", {}).items())).encode())
    return dask.delayed(fn, name=f"graphc-function-{digest.hexdigest()[:32]}", pure=True)


def _block(layout, fixed, n_outputs, *rows, gc_fn, **whole):
    """One block: ``fn.batch`` on the rows of this block and the values shared by every row."""
    given = iter(rows)
    values = []
    for k, kind in enumerate(layout):
        if kind == "rows":
            values.append(next(given))
        elif kind == "fixed":
            values.append(fixed[k])
        else:
            values.append(whole[f"gc_whole{k}"])
    result = gc_fn.batch(*values)
    if n_outputs == 1 and isinstance(result, tuple):
        return result[0]
    return result
