"""graphc: a compiler for automatic differentiation.

Declare a model once as a static graph, derive its derivatives as graphs, optimize them, and run
them as native code::

    import graphc as gc
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    gc.evaluate(graph, 2.0, 5.0)          # reference values, computed with numpy
    fn = gc.compile(graph)                # native code through LLVM
    fn(2.0, 5.0)

This module only re-exports the public API; each piece lives in its own module.
"""

from graphc import ops as _ops  # noqa: F401  (registers every op)
from graphc.autodiff import grad, hessian, hvp, jacobian, jvp, vjp
from graphc.batching import vmap
from graphc.custom import custom_jvp, custom_vjp
from graphc.dsl import (
    abs,
    as_node,
    astype,
    broadcast_to,
    concatenate,
    constant,
    cos,
    dot,
    exp,
    expm1,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logsumexp,
    matmul,
    matrix,
    max,
    maximum,
    mean,
    min,
    minimum,
    ones,
    prod,
    reshape,
    scalar,
    sigmoid,
    sign,
    sin,
    softmax,
    softplus,
    sqrt,
    square,
    stack,
    stop_gradient,
    sum,
    tan,
    tanh,
    tensor,
    transpose,
    vector,
    where,
    zeros,
)
from graphc.einsum import einsum
from graphc.evaluate import evaluate
from graphc.functions import (
    argmax,
    argmin,
    argsort,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    cross,
    cumprod,
    cumsum,
    diag,
    diagonal,
    diff,
    dstack,
    expand_dims,
    flip,
    hstack,
    inner,
    kron,
    moveaxis,
    outer,
    pad,
    ravel,
    repeat,
    roll,
    segment_sum,
    sort,
    split,
    squeeze,
    std,
    swapaxes,
    take,
    take_along_axis,
    tensordot,
    tile,
    tril,
    triu,
    var,
    vstack,
)
from graphc.graph import Graph, GraphError
from graphc.graphviz import render, to_dot
from graphc.jit import CompiledFunction, compile
from graphc.jit.cache import cache_clear, cache_info
from graphc.jit.export import export
from graphc.loops import scan
from graphc.node import Node
from graphc.optimize import optimize
from graphc.sparsity import SparseDerivative, sparse_hessian, sparse_jacobian
from graphc.trace import Trace, trace

__version__ = "0.1.0"


def __getattr__(name: str):
    # gc.dask is imported on first use, so dask stays an optional dependency.
    if name == "dask":
        import importlib

        return importlib.import_module("graphc.dask")
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")


__all__ = [
    "CompiledFunction",
    "Graph",
    "GraphError",
    "Node",
    "SparseDerivative",
    "Trace",
    "abs",
    "argmax",
    "argmin",
    "argsort",
    "as_node",
    "astype",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_to",
    "cache_clear",
    "cache_info",
    "compile",
    "concatenate",
    "constant",
    "cos",
    "cross",
    "cumprod",
    "cumsum",
    "custom_jvp",
    "custom_vjp",
    "diag",
    "diagonal",
    "diff",
    "dot",
    "dstack",
    "einsum",
    "evaluate",
    "exp",
    "expand_dims",
    "expm1",
    "export",
    "flip",
    "grad",
    "hessian",
    "hstack",
    "hvp",
    "inner",
    "jacobian",
    "jvp",
    "kron",
    "log",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "matmul",
    "matrix",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "moveaxis",
    "ones",
    "optimize",
    "outer",
    "pad",
    "prod",
    "ravel",
    "render",
    "repeat",
    "reshape",
    "roll",
    "scalar",
    "scan",
    "segment_sum",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "sort",
    "sparse_hessian",
    "sparse_jacobian",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "stop_gradient",
    "sum",
    "swapaxes",
    "take",
    "take_along_axis",
    "tan",
    "tanh",
    "tensor",
    "tensordot",
    "tile",
    "to_dot",
    "trace",
    "transpose",
    "tril",
    "triu",
    "var",
    "vector",
    "vjp",
    "vmap",
    "vstack",
    "where",
    "zeros",
]
