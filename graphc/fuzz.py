"""graphc's differential fuzzer: random graphs over every op, every stage compared with every other.

Run it at length with ``python -m graphc.fuzz --seconds 600 --seed 1`` (each case runs in a
worker process, so a crash of native code is reported, not fatal); ``tests/test_fuzz.py`` runs
it at a small seeded size.

What a case is. A seeded random graph over every op of :data:`graphc.ops.OPS` (arguments drawn
from each op's kind and arity, attributes from its kind; the op's shape rule rejects the
combinations that do not fit), plus some DSL-level builders (indexing, mean, softmax, stack, weak
Python numbers). Inputs and constants are float64, float32, int64 and bool, scalars and small
tensors that broadcast against each other, with -0.0, inf, nan, huge, tiny and subnormal values.
Derivative nodes (``gc.grad``, ``gc.vjp``, ``gc.jvp``) join the graph, and more ops are built on
top of them, so nested derivatives are fuzzed too. Each case has several input points (one with
special values, the others tame) and many outputs, to amortise compilation; one case in twelve
has long axes (long reductions, workspaces beyond the stack).

What is compared, and under which contract (``docs/guide.md``, "What compiled code computes",
and the optimizer's contract). Every comparison is *local*, so a documented rounding difference
cannot grow through later ops into a false report:

- ``optimize``: the default pipeline is replayed pass by pass (each pass's rules instrumented).
  ``simplify``, ``fold_constants``, ``cse`` and ``dce`` must keep every output bitwise (signed
  zeros included, nan payloads ignored); the two documented exceptions are checked where they
  fire instead: ``x**2 -> x*x`` and ``x**-1 -> 1/x`` within 1 ulp of ``pow``, and each
  ``stabilize`` rewrite "towards the exact value" (equal to a few ulp of the scale, or finite
  where the original overflowed). The replay must end on the graph ``gc.optimize`` returns.
- ``compile``: the optimized graph with *every* node as an output is compiled without the
  optimizer (libm's functions, ``vector_math=False``); each node's compiled value is compared
  with the op's reference ``evaluate`` applied to the compiled values of its arguments: bitwise
  for arithmetic, comparisons, logic, where, casts, abs, sign, sqrt, maximum/minimum and shape
  ops; within 4 ulp for exp, log, log1p, expm1, sin, cos, tan, tanh, pow, sigmoid, softplus;
  sums, products, max/min and matrix products equal to the documented in-order loop (from
  +0.0, element 0 first) or to numpy's value within the rounding bound; logsumexp within its
  rounding bound. ``vector_math``: the same with ``vector_math=True``, libmvec's documented 4
  ulp from libm added to the transcendental functions' distance.
- ``fusion``: ``gc.compile(g)`` (the optimizer, fused loops; in one case of four split into
  parts of a few kernels) against the unfused compile: bitwise, since both run the same
  instructions and the same libm calls.
- ``types``: compiled results have the types ``gc.evaluate`` returns (arguments given as Python
  numbers, or as numpy scalars and 0-d arrays).
- ``batch``: ``fn.batch`` over the points (some arguments shared by every row, some strided,
  sometimes two threads) against ``fn`` row by row: bitwise.
- ``serialize``, ``cache``: a pickled graph is the same graph with the same values; in one case
  of eight, a function loaded from the disk cache computes what the fresh compile computed.
- ``fd``: ``gc.grad``/``gc.vjp`` against central finite differences along a random direction
  (steps relative to each element), where finite differences can be trusted: every value
  finite, no comparison, sign, abs, maximum, max-reduction tie, cast or fractional power of a
  base changing sign over the stencil, every intermediate value moving by many ulps, three step
  sizes agreeing.
- ``dot``: ``<u, J v> == <J^T u, v>`` between ``gc.jvp`` and ``gc.vjp``, up to a running error
  bound (the magnitudes of the terms before cancellation); ``gc.jacobian`` in both modes and
  ``gc.trace``'s tangents and adjoints against the same. Derivatives are checked on the case
  with float32 made float64 (in float32, rounding hides a wrong rule).
- ``rule``: each op of those functions alone, its arguments made inputs holding the values they
  have there: its rules under the same checks, and a nan or inf derivative where finite
  differences are finite is a finding (in a whole graph it need not be: ``0 * nan`` from a
  discarded element, as in the documented where trap).
- ``crash``: any exception from building (other than a shape rule's TypeError, ValueError or
  IndexError), optimizing, compiling, evaluating, calling or differentiating; a worker process
  that dies.

Every finding is shrunk (points, outputs, then nodes replaced by inputs, constants or one of
their arguments, while the same check still fails the same way) and printed as runnable Python.

Known bugs (:data:`KNOWN_BUGS`) are recognised where a finding is made. Unless a bug is named in
``Config.include_known``, the generator avoids what triggers it where it can, and findings it
explains are counted as known rather than as failures; name it once it is fixed, so the fuzzer
checks the fix.
"""

from __future__ import annotations

import argparse
import contextlib
import decimal
import importlib
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

import graphc as gc
import passes
from graphc import dtypes, serialize
from graphc.evaluate import evaluate_all
from graphc.graph import Graph, topological_order
from graphc.jit import engine
from graphc.jit import plan as plan_module
from graphc.node import NO_ATTRS, Attrs, Node
from graphc.ops.base import OPS, arity, make, rebuild
from graphc.ops.sparse import sparse_gather
from passes.rewrite import map_subgraphs, rewrite, splat
from passes.simplify import make_rules
from passes.stabilize import stabilize_rule

# The fold_constants *module* (the package exports its pass function under the same name).
fold_module = importlib.import_module("passes.fold_constants")

# -- known bugs ---------------------------------------------------------------------------------

KNOWN_BUGS: dict[str, str] = {
    "fold_broadcast_product": (
        "passes/fold_constants.py: when the result is larger than every payload, any constant "
        "argument is treated as a broadcast scalar (its first element) (issue 8, item 1)"
    ),
    "empty_reduction": (
        "compiled sum/prod/mean over a zero-size input read out of bounds: the loops test their "
        "condition at the bottom (issue 8, item 2)"
    ),
    "int64_argument_overflow": (
        "an int64 scalar argument outside int64 wraps in compiled calls, where gc.evaluate "
        "raises (issue 8, item 3)"
    ),
    "pow_grad_at_zero": (
        "the derivative of a ** b at a = 0 is nan: b * a ** (b - 1) is 0 * inf (issue 8, item 5)"
    ),
    "bool_ordering": (
        "compiled lt/le/gt/ge on booleans compare i1 values as signed (true is -1): "
        "True < False is True (graphc/jit/emit.py, cmp: icmp slt on i1)"
    ),
    "empty_constant": (
        "compiling a graph with a zero-size constant of two or more dimensions raises "
        "TypeError (graphc/jit/cache.py, describe: memoryview(...).cast('B'))"
    ),
    "stabilize_bool": (
        "optimize raises TypeError on log(sigmoid(b)) with a boolean b: stabilize builds "
        "-softplus(-b) (passes/stabilize.py)"
    ),
    "trace_zero_tangent": (
        "gc.trace gives a non-differentiable op (stop_gradient, sign, a comparison) a numeric "
        "zero tangent, so 0 * inf = nan downstream where gc.jvp has no term (graphc/trace.py)"
    ),
    "div_vjp_overflow": (
        "the vjp of a / b with respect to b is -(ct / b) * (a / b): ct / b overflows for a tiny "
        "b (1.5e-310) and inf * 0 = nan where a = 0, whose derivative is 0 (the jvp computes "
        "-(t * (a / b)) / b and gives 0) (graphc/ops/elementwise.py, _div_vjp)"
    ),
    "cast_saturates": (
        "compiled casts of nan, inf and out-of-range floats to int64 saturate where numpy gives "
        "INT64_MIN; the guide still says casts are bitwise equal to numpy (issue 8, item 7)"
    ),
}

# -- contracts ----------------------------------------------------------------------------------

# How a compiled node must agree with the op's reference evaluation on the same arguments.
EXACT, ULP, ORDERED, LOGSUMEXP = "bitwise", "4 ulp", "in order", "logsumexp"
CONDITIONED = "to rounding scaled by conditioning"  # graphc's loops against LAPACK
CONTRACTS: dict[str, str] = {
    **dict.fromkeys(
        "neg abs sign sqrt cast stop_gradient not add sub mul div maximum minimum lt le gt ge "
        "eq ne and or where reshape transpose broadcast_to slice unslice concatenate const "
        "input".split(),
        EXACT,
    ),
    **dict.fromkeys(
        "exp log log1p expm1 sin cos tan tanh sigmoid softplus pow erf erfc gammaln digamma "
        "polygamma sinh cosh arcsin arccos arctan arcsinh arccosh arctanh log2 log10 exp2 cbrt "
        "arctan2 hypot logaddexp".split(),
        ULP,
    ),
    # numpy's own branches and loops, copied: bitwise (cumulative ops and scatter-adds add in
    # index order, as numpy's cumsum and np.add.at do).
    **dict.fromkeys(
        "floor ceil round remainder fmod clip gather sparse_gather scatter_add argsort argmax "
        "argmin cumsum cumprod linrec".split(),
        EXACT,
    ),
    **dict.fromkeys("sum prod max min matmul".split(), ORDERED),
    "logsumexp": LOGSUMEXP,
    # Linear algebra: graphc's own LU, Cholesky and substitutions against numpy's LAPACK, which
    # blocks and orders its operations otherwise; the lu_ ops exist only after lowering's
    # expansion (of solve, inv, det, slogdet) and are checked through those.
    **dict.fromkeys(
        "solve inv det slogdet_sign logabsdet cholesky solve_triangular lu_factor lu_solve "
        "lu_inv".split(),
        CONDITIONED,
    ),
    # Loops and custom functions compute their body's ops in order: bitwise when those are (the
    # generator's bodies are exact ops; see Generator.structured).
    **dict.fromkeys("scan revolve custom_vjp custom_jvp".split(), EXACT),
}
# Ops that only lowering builds (no graph a user writes holds them before gc.compile).
LOWERED_ONLY = frozenset({"lu_factor", "lu_solve", "lu_inv"})
MAX_ULPS = 4  # the guide: "within 4 ulp" for the functions graphc takes from libm
# vector_math=True: "libmvec is within 4 ulp where libm is within 1"; measured, libmvec's
# results differ from libm's by at most 4 ulp. Against numpy, both distances add up.
VECTOR_MATH_ULPS = MAX_ULPS + 4
POW_REWRITE_ULPS = 1  # simplify: x**2 -> x*x and x**-1 -> 1/x "can differ in the last bit"
# Ops whose derivative is piecewise: finite differences across a change of branch are no oracle.
_KINKS = {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not", "sign", "abs", "maximum"}
_KINKS |= {"minimum", "max", "min", "where", "pow", "cast"}
_KINKS |= {"floor", "ceil", "round", "remainder", "fmod", "clip"}

_F64_SPECIALS = (
    0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, 3.0, 0.1, math.inf, -math.inf, math.nan, 1e308,
    -1e308, 1.5e-310, -5e-324, 2.2250738585072014e-308, 1e-300, 1e200, 709.5, 710.0, -745.0,
    1e-20, 1e20,
)  # fmt: skip
_F32_SPECIALS = (
    0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, math.inf, -math.inf, math.nan, 3.4e38, -3.4e38,
    1e-45, 1e-40, 1.2e-38, 88.7, 89.0, -103.0, 1e-8, 1e8,
)  # fmt: skip
_I64_SPECIALS = (
    0, 1, -1, 2, -2, 3, 7, 2**31, -(2**31), 2**53 + 1, 2**62, 2**63 - 1, -(2**63), 10**18,
)  # fmt: skip
MAX_NODE_SIZE = 256  # elements; keeps evaluation, finite differences and batches cheap
# One case in twelve has long axes instead: long reductions and matrix products, intermediate
# arrays beyond the 64 KiB a compiled function keeps on its stack (a workspace per thread).
LARGE_NODE_SIZE = 12_000


@dataclass
class Config:
    """What to run. ``include_known``: known bugs to trigger and fail on (see the module doc)."""

    seed: int = 0
    seconds: float = 60.0
    max_cases: int | None = None
    first_case: int = 0
    min_ops: int = 8
    max_ops: int = 30
    points: int = 3
    include_known: frozenset[str] = frozenset()
    shrink: bool = True
    shrink_seconds: float = 60.0
    shrinks_per_signature: int = 1
    verbose: bool = False


@dataclass
class Finding:
    check: str  # optimize, compile, fusion, types, batch, fd, dot, argument, crash
    key: str  # what failed: an op, a pass, a stage
    message: str
    known: str | None = None  # the KNOWN_BUGS entry that explains it
    case: str = ""  # "seed/index" of the case that found it
    reproducer: str = ""
    group: str = ""  # the check group (a key of CHECKS) that made it

    @property
    def signature(self) -> tuple[str, str, str]:
        return self.check, self.key, self.known or ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Deriv:
    """One derivative check: outputs F, inputs W, cotangents U (one per F), tangents V (per W)."""

    outputs: tuple[Node, ...]
    wrt: tuple[Node, ...]
    cotangents: tuple[np.ndarray, ...]
    tangents: tuple[np.ndarray, ...]
    use_grad: bool = False


@dataclass
class Case:
    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]
    points: list[tuple[np.ndarray, ...]]  # one value per input, exact dtype and shape
    derivs: tuple[Deriv, ...] = ()
    name: str = ""

    def graph(self) -> Graph:
        return Graph(list(self.inputs), list(self.outputs))


@dataclass
class Stats:
    cases: int = 0
    nodes: int = 0
    compiles: int = 0
    seconds: float = 0.0
    ops: Counter = field(default_factory=Counter)  # nodes built per op (and DSL builder)
    comparisons: Counter = field(default_factory=Counter)  # values compared per check
    skipped: Counter = field(default_factory=Counter)  # checks not run, and why

    def merge(self, other: Stats) -> None:
        self.cases += other.cases
        self.nodes += other.nodes
        self.compiles += other.compiles
        self.seconds += other.seconds
        self.ops.update(other.ops)
        self.comparisons.update(other.comparisons)
        self.skipped.update(other.skipped)

    def to_json(self) -> dict:
        # Not asdict: it would rebuild each Counter from (key, value) pairs, counting the pairs.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict) -> Stats:
        counters = {k: Counter(data[k]) for k in ("ops", "comparisons", "skipped")}
        return cls(**{**data, **counters})


# -- comparing values ---------------------------------------------------------------------------


def _float(array: np.ndarray) -> bool:
    return array.dtype.kind == "f"


def same_bits(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Elementwise equality that tells -0.0 from 0.0 and treats every nan as equal."""
    if _float(want):
        with np.errstate(invalid="ignore"):
            equal = (got == want) & (np.signbit(got) == np.signbit(want))
        return equal | (np.isnan(got) & np.isnan(want))
    return got == want


def _reads_libm(node: Node) -> bool:
    """Whether ``node`` or a node it depends on computes a function graphc takes from libm."""
    return any(CONTRACTS.get(n.op) == ULP for n in topological_order([node]))


def ulp_distance(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Units in the last place between two float arrays of one dtype (inf when one is nan and
    the other not, 0 when both are nan; +0.0 and -0.0 are 0 apart)."""
    bits = np.int64 if want.dtype == np.float64 else np.int32

    def ordered(a: np.ndarray) -> np.ndarray:
        i = np.ascontiguousarray(a).view(bits).astype(np.int64).reshape(np.shape(a))
        lowest = np.int64(np.iinfo(bits).min)
        return np.where(i < 0, lowest - i, i)

    a, b = ordered(got), ordered(want)
    opposite = (a < 0) != (b < 0)
    with np.errstate(over="ignore"):
        distance = np.abs(np.where(opposite, 0, a - b)).astype(np.float64)
        distance = np.where(opposite, np.abs(a.astype(float)) + np.abs(b.astype(float)), distance)
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    distance = np.where(nan_got != nan_want, np.inf, distance)
    return np.where(nan_got & nan_want, 0.0, distance)


def _eps(dtype: object) -> float:
    return float(np.finfo(np.dtype(dtype)).eps)  # type: ignore[call-overload]


def _show(array: np.ndarray, mask: np.ndarray | None = None, limit: int = 4) -> str:
    """The first few (masked) elements, exactly (repr of each value)."""
    array = np.asarray(array)
    flat = array.reshape(-1)
    where = np.flatnonzero(mask.reshape(-1)) if mask is not None else np.arange(flat.size)
    shown = ", ".join(repr(flat[i].item()) for i in where[:limit])
    more = ", ..." if where.size > limit else ""
    prefix = f"at flat index {where[0]}: " if mask is not None and where.size else ""
    return f"{prefix}[{shown}{more}] ({array.dtype}{list(array.shape)})"


def inorder_reduce(node: Node, x: np.ndarray) -> np.ndarray:
    """The reduction as graphc documents its loops: element 0 first, sums from +0.0, products
    from 1, max/min keeping the accumulator when it wins or is nan (ties take the later)."""
    axes = node.attrs["axes"]
    x = np.asarray(x).astype(node.dtype)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + list(axes))
    kept_shape = tuple(x.shape[a] for a in kept)
    rows = moved.reshape(kept_shape + (math.prod(x.shape[a] for a in axes),))
    dtype = np.dtype(node.dtype)
    op = node.op
    with np.errstate(all="ignore"):
        if op in ("sum", "prod"):
            acc = np.full(kept_shape, 0 if op == "sum" else 1, dtype=dtype)
            for i in range(rows.shape[-1]):
                acc = acc + rows[..., i] if op == "sum" else acc * rows[..., i]
        else:
            wins = np.greater if op == "max" else np.less
            if dtype == np.bool_:
                acc = np.full(kept_shape, op == "min", dtype=dtype)
            elif dtype.kind == "f":
                acc = np.full(kept_shape, -np.inf if op == "max" else np.inf, dtype=dtype)
            else:
                info = np.iinfo(dtype)
                acc = np.full(kept_shape, info.min if op == "max" else info.max, dtype=dtype)
            for i in range(rows.shape[-1]):
                xi = rows[..., i]
                keep = wins(acc, xi) | (np.isnan(acc) if dtype.kind == "f" else False)
                acc = np.where(keep, acc, xi).astype(dtype)
    return np.asarray(acc, dtype=dtype).reshape(node.shape)


def inorder_matmul(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` as graphc's loops compute it: each element adds its k products in order from 0."""
    dtype = np.dtype(node.dtype)
    a2 = np.asarray(a).astype(dtype).reshape(-1 if a.ndim == 2 else 1, a.shape[-1])
    b2 = np.asarray(b).astype(dtype).reshape(b.shape[0], -1)
    acc = np.zeros((a2.shape[0], b2.shape[1]), dtype=dtype)
    with np.errstate(all="ignore"):
        for k in range(a2.shape[1]):
            acc = acc + a2[:, k : k + 1] * b2[k : k + 1, :]
    return acc.reshape(node.shape)


def _rounding_bound(terms: np.ndarray, count: int, dtype: np.dtype) -> np.ndarray:
    """Twice the worst-case difference between two summation orders of ``count`` terms whose
    absolute values add up to ``terms`` (computed in long double so it does not overflow)."""
    return 2.0 * count * _eps(dtype) * terms.astype(np.longdouble)


def local_mismatch(
    node: Node, got: np.ndarray, args: Sequence[np.ndarray], max_ulps: int = MAX_ULPS
) -> str | None:
    """Why ``got`` (compiled) breaks ``node``'s contract given its arguments' values, or None.
    ``max_ulps``: the distance allowed from numpy for the functions taken from libm."""
    opdef = OPS[node.op]
    contract = CONTRACTS.get(node.op, EXACT)
    with np.errstate(all="ignore"):
        want = np.asarray(node.value if node.op == "const" else opdef.evaluate(node, *args))
    want = want.astype(node.dtype, copy=False)
    got = np.asarray(got)
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"got {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
    equal = same_bits(got, want)
    if equal.all():
        return None
    if contract == ULP and _float(want):
        distance = ulp_distance(got, want)
        bad = distance > max_ulps
        if not bad.any():
            return None
        return (
            f"{distance[bad].max():.0f} ulp from numpy ({max_ulps} ulp documented): got "
            f"{_show(got, bad)}, numpy {_show(want, bad)}"
        )
    if contract == ORDERED:
        model = (
            inorder_matmul(node, *args) if node.op == "matmul" else inorder_reduce(node, args[0])
        )
        if same_bits(got, model).all():
            return None
        if _float(want) and node.op in ("sum", "prod", "matmul"):
            bound = _ordered_bound(node, args, want)
            with np.errstate(all="ignore"):
                diff = np.abs(got.astype(np.longdouble) - want.astype(np.longdouble))
            inside = (diff <= bound) & np.isfinite(got) & np.isfinite(want)
            inside |= same_bits(got, want)
            if inside.all():
                return None
            bad = ~inside
        else:
            bad = ~(same_bits(got, model) | equal)
            if not bad.any():
                return None
        return (
            f"got {_show(got, bad)}, the in-order loop gives {_show(model, bad)} and numpy "
            f"{_show(want, bad)}"
        )
    if contract == CONDITIONED:
        # The backward error of LU/Cholesky/substitution is a few n eps; the forward error is
        # that times the condition number. Compared only where the matrix is finite and
        # reasonably conditioned (elsewhere LAPACK and graphc legitimately differ in nan/inf).
        matrix = np.asarray(args[0], dtype=np.float64)
        if not np.all(np.isfinite(matrix)) or not _float(want):
            return None
        with np.errstate(all="ignore"):
            cond = float(np.max(np.linalg.cond(matrix))) if matrix.ndim >= 2 else 1.0
        if not np.isfinite(cond) or cond > 1e8:
            return None
        n = matrix.shape[-1] if matrix.ndim >= 2 else 1
        scale = np.max(np.abs(want[np.isfinite(want)]), initial=1.0)
        tol = 64 * n * _eps(node.dtype) * cond * scale
        with np.errstate(all="ignore"):
            inside = np.abs(got.astype(np.float64) - want.astype(np.float64)) <= tol
        inside |= equal
        if inside.all():
            return None
        bad = ~inside
        return f"got {_show(got, bad)}, numpy {_show(want, bad)} (cond {cond:.1e})"
    if contract == LOGSUMEXP:
        count = max(1, math.prod(args[0].shape[a] for a in node.attrs["axes"]))
        tol = (2 * count + 16) * _eps(node.dtype) * np.maximum(1.0, np.abs(want))
        with np.errstate(all="ignore"):
            inside = np.abs(got.astype(np.float64) - want.astype(np.float64)) <= tol
        inside = (inside & np.isfinite(want)) | equal
        if inside.all():
            return None
        bad = ~inside
        return f"got {_show(got, bad)}, numpy {_show(want, bad)} (beyond rounding)"
    bad = ~equal
    return f"got {_show(got, bad)}, numpy {_show(want, bad)} ({contract} documented)"


def _ordered_bound(node: Node, args: Sequence[np.ndarray], want: np.ndarray) -> np.ndarray:
    dtype = np.dtype(node.dtype)
    with np.errstate(all="ignore"):
        if node.op == "sum":
            x = np.abs(np.asarray(args[0]).astype(np.longdouble))
            terms = np.sum(x, axis=node.attrs["axes"], keepdims=node.attrs["keepdims"])
            count = max(1, math.prod(args[0].shape[a] for a in node.attrs["axes"]))
            return _rounding_bound(terms, count, dtype)
        if node.op == "prod":
            count = max(1, math.prod(args[0].shape[a] for a in node.attrs["axes"]))
            return 2.0 * count * _eps(dtype) * np.abs(want.astype(np.longdouble))
        a, b = (np.abs(np.asarray(v).astype(np.longdouble)) for v in args)
        terms = np.asarray(np.matmul(a, b))
        return _rounding_bound(terms, args[0].shape[-1], dtype)


def _empty_reduction(node: Node) -> bool:
    return node.op in ("sum", "prod") and node.args[0].size == 0


def _cast_saturation(node: Node, got: np.ndarray, args: Sequence[np.ndarray]) -> bool:
    """Every mismatch of a float -> int64 cast is at nan, inf or an out-of-range value."""
    if node.op != "cast" or node.dtype != dtypes.INT64 or node.args[0].dtype not in dtypes.FLOATS:
        return False
    x = np.asarray(args[0]).astype(np.float64)
    with np.errstate(all="ignore"):
        want = x.astype(np.int64)
        outside = ~np.isfinite(x) | (x >= 2.0**63) | (x < -(2.0**63))
    return bool(np.all(outside | (np.asarray(got) == want)))


# -- generating cases ---------------------------------------------------------------------------

# Builders beyond the op table: the DSL's own normalisations (indexing, mean, softmax, stack,
# weak Python numbers) must agree with everything else too.
GENERATED_KINDS = ("elementwise", "reduce", "view", "unslice", "concat", "matmul")

DSL_BUILDERS = (
    "index", "mean", "softmax", "stack", "square", "scalar_operand", "astype", "rewrite",
    "rewrite", "rewrite", "cumulative", "sort", "argreduce", "take", "segment_sum",
    "cumprod_gradient", "sparse_take", "linalg",
)  # fmt: skip


def _one(grad: Node | Sequence[Node]) -> Node:
    """``gc.grad`` with respect to one node returns one node."""
    assert isinstance(grad, Node)
    return grad


class Generator:
    """Builds one :class:`Case` from a seeded generator. Deterministic for a given seed."""

    def __init__(self, rng: np.random.Generator, config: Config, stats: Stats):
        self.rng = rng
        self.config = config
        self.stats = stats
        self.pool: list[Node] = []
        self.inputs: list[Node] = []
        self.avoid_empty = "empty_reduction" not in config.include_known
        self.avoid_empty_constant = "empty_constant" not in config.include_known
        zero = 0.05 if rng.random() < 0.3 else 0.0  # some cases have zero-size dimensions
        dims = [int(rng.choice([1, 2, 3, 4, 5], p=[0.15, 0.3, 0.3, 0.15, 0.1])) for _ in "abc"]
        self.max_size = MAX_NODE_SIZE
        if rng.random() < 1 / 12:
            dims = [int(rng.choice([2, 3])), int(rng.choice([16, 31])), int(rng.choice([40, 64]))]
            self.max_size = LARGE_NODE_SIZE
        self.base = tuple(0 if rng.random() < zero else d for d in dims)
        # Ops built directly through make(): those whose attributes this generator draws (the
        # others are reached through their DSL functions, see DSL_BUILDERS).
        self.op_names = [name for name, op in OPS.items() if op.kind in GENERATED_KINDS]
        self.findings: list[Finding] = []
        self.aux: np.random.Generator | None = None  # the stream of structured(), if any

    # -- values ----------------------------------------------------------------------------
    def values(self, shape: tuple[int, ...], dtype: str, special_rate: float) -> np.ndarray:
        rng = self.rng
        n = math.prod(shape)
        if dtype == dtypes.BOOL:
            return np.asarray(rng.random(shape) < 0.5)
        specials: tuple[object, ...]
        if dtype == dtypes.INT64:
            values = rng.integers(-4, 5, n).astype(object)
            specials = _I64_SPECIALS
        else:
            kind = rng.integers(3)
            if kind == 0:
                values = rng.standard_normal(n)
            elif kind == 1:
                values = rng.uniform(0.2, 3.0, n)
            else:
                values = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)
            values = values.astype(object)
            specials = _F64_SPECIALS if dtype == dtypes.FLOAT64 else _F32_SPECIALS
        if special_rate:
            for i in np.flatnonzero(rng.random(n) < special_rate):
                values[i] = specials[rng.integers(len(specials))]
        return np.array(list(values), dtype=dtype).reshape(shape)

    def shape(self) -> tuple[int, ...]:
        ndim = int(self.rng.choice([0, 1, 2, 3], p=[0.3, 0.3, 0.3, 0.1]))
        dims = self.base[len(self.base) - ndim :]
        return tuple(1 if self.rng.random() < 0.2 else d for d in dims)

    def dtype(self) -> str:
        return str(self.rng.choice(dtypes.DTYPES, p=[0.5, 0.25, 0.15, 0.1]))

    def constant(self, dtype: str | None = None, shape: tuple[int, ...] | None = None) -> Node:
        dtype = dtype or self.dtype()
        if shape is None:
            shape = () if self.rng.random() < 0.5 else self.shape()
        if self.avoid_empty_constant and len(shape) >= 2 and 0 in shape:
            shape = tuple(d or 1 for d in shape)
        node = gc.constant(self.values(shape, dtype, 0.3), dtype)
        self.pool.append(node)
        return node

    def new_input(self, dtype: str | None = None, shape: tuple[int, ...] | None = None) -> Node:
        node = gc.tensor(
            f"x{len(self.inputs)}", self.shape() if shape is None else shape, dtype or self.dtype()
        )
        self.inputs.append(node)
        self.pool.append(node)
        return node

    # -- picking arguments -----------------------------------------------------------------
    def pick(self, accept: Callable[[Node], bool] | None = None) -> Node:
        candidates = [n for n in self.pool if accept is None or accept(n)]
        rng = self.rng
        if not candidates or rng.random() < 0.08:  # sometimes a fresh constant
            for dtype in (None, None, None, dtypes.BOOL):  # random dtypes, then a boolean
                node = self.constant(dtype)
                if accept is None or accept(node):
                    return node
            return candidates[-1] if candidates else node
        if rng.random() < 0.6:  # mostly recent nodes, so graphs grow deep rather than wide
            back = min(int(rng.geometric(0.35)) - 1, len(candidates) - 1)
            return candidates[len(candidates) - 1 - back]
        return candidates[int(rng.integers(len(candidates)))]

    # -- one op ----------------------------------------------------------------------------
    def grow(self) -> None:
        rng = self.rng
        use_dsl = rng.random() < 0.2
        name = str(rng.choice(DSL_BUILDERS if use_dsl else self.op_names))
        for _ in range(8):
            try:
                node = self.dsl(name) if use_dsl else self.build(name)
            except (TypeError, ValueError, IndexError):
                continue  # the op's shape rule rejected these arguments: draw again
            except Exception as error:  # a shape rule that crashes is a finding
                self.findings.append(
                    Finding("crash", f"build:{name}", _describe_error(error), case="")
                )
                return
            if node is None or node.size > self.max_size or node.ndim > 4:
                continue
            self.stats.ops[f"dsl:{name}" if use_dsl else node.op] += 1
            if use_dsl:  # the ops a DSL function built count as generated too
                known = set(self.pool)
                for built in topological_order([node]):
                    if built not in known and built.op not in ("input", "const"):
                        self.stats.ops[built.op] += 1
            self.pool.append(node)
            return

    def build(self, name: str) -> Node | None:
        opdef = OPS[name]
        kind = opdef.kind
        rng = self.rng
        is_bool = lambda n: n.dtype == dtypes.BOOL  # noqa: E731
        if name in ("and", "or", "not"):
            args = [self.pick(is_bool) for _ in range(arity(opdef) or 2)]
        elif name == "where":
            args = [self.pick(is_bool), self.pick(), self.pick()]
        elif kind == "concat":
            first = self.pick(lambda n: n.ndim >= 1)
            axis = int(rng.integers(first.ndim))
            args = [first]
            for _ in range(int(rng.integers(1, 3))):
                if rng.random() < 0.5:
                    dims = list(first.shape)
                    dims[axis] = int(rng.integers(0 if not self.avoid_empty else 1, 4))
                    args.append(self.constant(shape=tuple(dims)))
                else:
                    args.append(self.pick(lambda n: n.ndim == first.ndim))
            return make(name, tuple(args), Attrs(axis=axis))
        elif kind == "matmul":
            a = self.pick(lambda n: n.ndim in (1, 2))
            if rng.random() < 0.5:
                b = self.pick(lambda n: n.ndim in (1, 2) and n.shape[0] == a.shape[-1])
            else:
                shape = (a.shape[-1],) + (() if rng.random() < 0.3 else (int(rng.integers(1, 4)),))
                b = (
                    self.constant(shape=shape)
                    if rng.random() < 0.5
                    else self.new_input(None, shape)
                )
            args = [a, b] if rng.random() < 0.8 else [b, a]
        else:
            count = arity(opdef)
            args = [self.pick() for _ in range(count if count is not None else 2)]
        attrs = self.attrs(name, kind, args)
        if attrs is None:
            return None
        return make(name, tuple(args), attrs)

    def attrs(self, name: str, kind: str, args: list[Node]) -> Attrs | None:
        rng = self.rng
        x = args[0]
        if name == "cast":
            return Attrs(dtype=self.dtype())
        if name == "round":
            return Attrs(decimals=int(rng.integers(-2, 3)))
        if name == "polygamma":
            return Attrs(n=int(rng.integers(1, 4)))
        if kind == "reduce":
            if self.avoid_empty and name in ("sum", "prod") and x.size == 0:
                return None
            axes = tuple(int(a) for a in range(x.ndim) if rng.random() < 0.6)
            return Attrs(axes=axes, keepdims=bool(rng.random() < 0.3))
        if name == "reshape":
            return Attrs(shape=self.reshaped(x.shape))
        if name == "transpose":
            return Attrs(perm=tuple(int(p) for p in rng.permutation(x.ndim)))
        if name == "broadcast_to":
            lead = tuple(int(rng.integers(1, 4)) for _ in range(int(rng.integers(0, 2))))
            body = tuple(int(rng.integers(1, 4)) if d == 1 else d for d in x.shape)
            return Attrs(shape=lead + body)
        if name == "slice":
            return Attrs(spec=tuple(self.axis_slice(d) for d in x.shape))
        if name == "unslice":
            spec, shape = [], []
            for d in x.shape:
                step = int(rng.choice([1, 1, 2]))
                start = int(rng.integers(0, 3))
                if d == 0:
                    spec.append((0, 1, 0))
                    shape.append(int(rng.integers(0, 3)))
                    continue
                spec.append((start, step, d))
                shape.append(start + step * (d - 1) + 1 + int(rng.integers(0, 2)))
            return Attrs(spec=tuple(spec), shape=tuple(shape))
        if kind in ("reduce", "view", "unslice", "concat"):  # an op this generator does not know
            raise NotImplementedError(f"no attribute generator for op {name!r}")
        return NO_ATTRS

    def linear_algebra(self) -> Node | None:
        """A gc.linalg function of a square matrix made well conditioned: (a square matrix of
        the pool, or a fresh input) plus (k + 2) times the identity."""
        rng = self.rng
        k = int(rng.integers(1, 6))
        square = lambda n: (  # noqa: E731
            n.ndim == 2 and n.shape == (k, k) and n.dtype == dtypes.FLOAT64
        )
        x = self.pick(square)
        if not square(x):
            x = self.new_input(dtypes.FLOAT64, (k, k))
        a = x + gc.constant(np.eye(k) * (k + 2))
        b = self.pick(lambda n: n.shape == (k,) and n.dtype == dtypes.FLOAT64)
        if b.shape != (k,):
            b = self.new_input(dtypes.FLOAT64, (k,))
        choice = int(rng.integers(6))
        if choice == 0:
            return gc.linalg.solve(a, b)
        if choice == 1:
            return gc.linalg.inv(a)
        if choice == 2:
            return gc.linalg.det(a)
        if choice == 3:
            sign, logabsdet = gc.linalg.slogdet(a)
            return sign * logabsdet
        if choice == 4:
            return gc.linalg.cholesky(a @ a.T + gc.constant(np.eye(k)))
        lower = bool(rng.random() < 0.5)
        triangle = gc.tril(a) if lower else gc.triu(a)
        return gc.linalg.solve_triangular(triangle, b, lower=lower)

    def array_function(self, name: str, x: Node) -> Node | None:
        """numpy's functions of whole axes (graphc.functions), with constant indices in range."""
        rng = self.rng
        if x.ndim == 0:
            return None
        axis = int(rng.integers(-x.ndim, x.ndim))
        if name == "cumulative":
            return (gc.cumsum if rng.random() < 0.5 else gc.cumprod)(x, axis=axis)
        if name == "cumprod_gradient":  # its derivative is a linear recurrence (linrec)
            if not dtypes.is_float(x.dtype):
                return None
            return _one(gc.grad(gc.sum(gc.cumprod(x, axis=axis) * 0.5), x))
        if name == "sort":
            return (gc.sort if rng.random() < 0.5 else gc.argsort)(x, axis=axis)
        if name == "argreduce":
            if x.shape[axis] == 0:
                return None
            return (gc.argmax if rng.random() < 0.5 else gc.argmin)(x, axis=axis)
        size = x.shape[axis]
        if name == "take":
            if size == 0:
                return None
            indices = rng.integers(-size, size, int(rng.integers(0, 5)))
            return gc.take(x, indices, axis=axis)
        segments = int(rng.integers(1, 5))  # segment_sum: along the first axis
        ids = rng.integers(0, segments, x.shape[0])
        return gc.segment_sum(x, ids, segments) if x.dtype != dtypes.BOOL else None

    def structured(self) -> list[Node]:
        """Nodes holding a graph: a ``gc.scan`` (its value, its per-step outputs, or its gradient
        storing every carry, one in two, or one: a ``revolve`` node) and functions with custom
        rules (the true derivative), of exact ops. Drawn from a stream of their own
        (``self.aux``), so the rest of a case is what it was before they existed. float64 only:
        :func:`promote_case` widens nodes, not the graphs they hold."""
        aux = self.aux
        floats = [n for n in self.pool if n.dtype == dtypes.FLOAT64 and 0 < n.size]
        if aux is None or not floats or aux.random() < 0.4:
            return []
        x = floats[int(aux.integers(len(floats)))]
        if aux.random() < 0.3:
            function: gc.custom_jvp | gc.custom_vjp
            if aux.random() < 0.5:
                function = gc.custom_jvp(lambda v: v * v - v)
                function.def_jvp(lambda inputs, y, tangents: tangents[0] * (inputs[0] * 2.0 - 1.0))
            else:
                function = gc.custom_vjp(lambda v: v * v - v)
                function.def_vjp(lambda inputs, y, ct: (ct * (inputs[0] * 2.0 - 1.0),))
            built = [function(x)]
        else:
            scalars = [n for n in self.pool if n.dtype == x.dtype and n.shape == ()]
            w = scalars[int(aux.integers(len(scalars)))] if scalars else gc.constant(0.75, x.dtype)

            def step(c, _):
                return gc.maximum(c * 0.5 + w, c - w), c * w

            memory = max(1, x.size) * np.dtype(x.dtype).itemsize
            options: list[dict[str, Any]] = [{}, {"checkpoint": 2}, {"memory": memory}]
            chosen = options[int(aux.integers(3))]
            last, ys = gc.scan(step, x, length=int(aux.integers(0, 5)), **chosen)
            which = int(aux.integers(3))
            if which == 2:
                built = [_one(gc.grad(gc.sum(last * last) + gc.sum(ys), x))]
            else:
                built = [last if which == 0 else ys]
        known = set(self.pool)
        for node in topological_order(built):
            if node not in known and node.op not in ("input", "const"):
                self.stats.ops[node.op] += 1
        return [n for n in built if n.size <= self.max_size]

    def axis_slice(self, dim: int) -> tuple[int, int, int]:
        rng = self.rng
        if dim == 0:
            return (0, 1, 0)
        step = int(rng.choice([1, 1, 2, -1, 3]))
        start = int(rng.integers(dim))
        room = (dim - 1 - start) // step + 1 if step > 0 else start // (-step) + 1
        low = 0 if not self.avoid_empty and rng.random() < 0.1 else 1
        return (start, step, int(rng.integers(low, room + 1)))

    def reshaped(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        rng = self.rng
        n = math.prod(shape)
        options = [(n,), shape + (1,), (1,) + shape, tuple(reversed(shape))]
        if len(shape) >= 2:
            options.append((shape[0] * shape[1],) + shape[2:])
        for d in (2, 3):
            if n % d == 0 and n > d:
                options.append((d, n // d))
        return tuple(int(d) for d in options[int(rng.integers(len(options)))])

    def dsl(self, name: str) -> Node | None:
        rng = self.rng
        x = self.pick()
        if name == "index":
            if x.ndim == 0:
                return x[None] if rng.random() < 0.5 else x[...]
            key: list[object] = []
            for d in x.shape:
                r = rng.random()
                if r < 0.3 and d > 0:
                    key.append(int(rng.integers(-d, d)))
                elif r < 0.45:
                    key.append(None)
                    key.append(slice(None))
                else:
                    start, step, count = self.axis_slice(d)
                    stop = start + step * count
                    key.append(slice(start, stop if stop >= 0 else None, step))
            if rng.random() < 0.3:
                key = [Ellipsis] + key[len(key) // 2 :]
            return x[tuple(key)]
        if name == "mean":
            if self.avoid_empty and x.size == 0:
                return None
            return gc.mean(x, axis=None if x.ndim == 0 or rng.random() < 0.3 else -1)
        if name == "softmax":
            return gc.softmax(x, axis=-1) if x.ndim else None
        if name == "stack":
            y = self.pick(lambda n: n.shape == x.shape)
            return gc.stack([x, y], axis=int(rng.integers(-1, x.ndim + 1)))
        if name == "square":
            return gc.square(x)
        if name == "astype":
            return gc.astype(x, self.dtype())
        if name == "rewrite":
            return self.rewrite_bait(x)
        if name in ("cumulative", "sort", "argreduce", "take", "segment_sum", "cumprod_gradient"):
            return self.array_function(name, x)
        if name == "linalg":
            return self.linear_algebra()
        if name == "sparse_take":  # the gather of sparse derivatives (graphc.sparsity.take)
            if x.ndim != 1 or x.size == 0:
                return None
            positions = np.sort(rng.integers(0, x.size, int(rng.integers(1, 2 * x.size + 1))))
            return sparse_gather(x, positions)
        # A Python number on either side of an operator: weakly typed, as numpy 2.
        number: object = [2.0, 0.5, -1.0, 3, 0, 1e300, -0.0, True][int(rng.integers(8))]
        op = ["+", "-", "*", "/", "**", "<", "==", "max"][int(rng.integers(8))]
        left = rng.random() < 0.5
        if op == "max":
            return gc.maximum(number, x) if left else gc.maximum(x, number)
        function = {
            "+": lambda a, b: a + b,
            "-": lambda a, b: a - b,
            "*": lambda a, b: a * b,
            "/": lambda a, b: a / b,
            "**": lambda a, b: a**b,
            "<": lambda a, b: a < b,
            "==": lambda a, b: a == b,
        }[op]
        return function(number, x) if left else function(x, number)

    def rewrite_bait(self, x: Node) -> Node | None:
        """A pattern some optimizer rule looks for (or, for the unsafe ones, must leave alone)."""
        rng = self.rng
        y = self.pick(lambda n: n.shape == x.shape and n.dtype == x.dtype)
        pattern = int(rng.integers(24))
        if pattern == 0:
            return gc.log(1.0 + x) if rng.random() < 0.5 else gc.log(x + 1.0)
        if pattern == 1:
            return gc.exp(x) - 1.0
        if pattern == 2:
            return gc.log(gc.exp(x))
        if pattern == 3:
            return gc.log1p(gc.exp(x))
        if pattern == 4:
            return gc.log(gc.sigmoid(x))
        if pattern == 5:
            axis = None if x.ndim == 0 or rng.random() < 0.5 else -1
            return gc.log(gc.sum(gc.exp(x), axis=axis, keepdims=bool(rng.random() < 0.5)))
        constants = [1.0, -1.0, -0.0, 0.0, 2.0, 0.5, 4.0, 0.25, 3.0]
        c = constants[int(rng.integers(len(constants)))]
        if pattern == 6:
            return x * c if rng.random() < 0.5 else c * x
        if pattern == 7:
            return x / c
        if pattern == 8:
            return x + c if rng.random() < 0.5 else c + x
        if pattern == 9:
            return x - c if rng.random() < 0.5 else c - x
        if pattern == 10:
            return x ** [2.0, -1.0, 1.0, 0.0, 0.5, 2][int(rng.integers(6))]
        if pattern == 11:
            negated = -x
            return -negated
        if pattern == 12:
            return gc.abs(-x) if rng.random() < 0.5 else gc.abs(gc.abs(x))
        if pattern == 13:
            return (-x) * (-y) if rng.random() < 0.5 else (-x) / (-y)
        if pattern == 14:
            return x + (-y) if rng.random() < 0.5 else (-x) + y
        if pattern == 15:
            return x - (-y)
        if pattern == 16:
            return gc.where(self.pick(lambda n: n.dtype == dtypes.BOOL), x, x)
        if pattern == 17:
            return gc.where(bool(rng.random() < 0.5), x, y)
        if pattern == 18:
            return x - x if rng.random() < 0.5 else x / x
        if pattern == 19:
            return -(x - y)
        if pattern == 20 and x.ndim:
            return gc.reshape(gc.reshape(x, (-1,)), x.shape[::-1])
        if pattern == 21 and x.ndim >= 2:
            return gc.transpose(gc.transpose(x, (1, 0) + tuple(range(2, x.ndim))))
        if pattern == 22 and x.ndim:
            return x[::-1][::2] if x.shape[0] > 1 else x[::-1]
        if pattern == 23:
            return gc.broadcast_to(gc.broadcast_to(x, (2,) + x.shape), (3, 2) + x.shape)
        return None

    # -- derivatives -----------------------------------------------------------------------
    def deriv(self) -> Deriv | None:
        rng = self.rng
        limit = 64 if self.max_size == MAX_NODE_SIZE else 4096
        floats = [n for n in self.pool if n.dtype in dtypes.FLOATS and 0 < n.size <= limit]
        if not floats:
            return None
        count = int(rng.integers(1, 4))
        chosen: list[Node] = []
        for _ in range(count):
            back = min(int(rng.geometric(0.3)) - 1, len(floats) - 1)
            node = floats[
                len(floats) - 1 - back if rng.random() < 0.7 else rng.integers(len(floats))
            ]
            if all(node is not c for c in chosen):
                chosen.append(node)
        order = topological_order(chosen)
        used = {id(n) for n in order}
        wrt = [n for n in self.inputs if n.dtype in dtypes.FLOATS and id(n) in used]
        if not wrt:
            return None
        # Finite differences perturb float64 inputs only: keep one in most checks.
        wrt = [w for w in wrt if rng.random() < 0.8 or w.dtype == dtypes.FLOAT64] or wrt[:1]
        cotangents = tuple(
            rng.standard_normal(f.shape).astype(f.dtype) for f in chosen
        )  # fmt: skip
        tangents = tuple(rng.standard_normal(w.shape).astype(w.dtype) for w in wrt)
        use_grad = len(chosen) == 1 and chosen[0].shape == () and rng.random() < 0.5
        if use_grad:
            cotangents = (np.asarray(1.0, dtype=chosen[0].dtype),)
        return Deriv(tuple(chosen), tuple(wrt), cotangents, tangents, use_grad)

    # -- the case --------------------------------------------------------------------------
    def case(self, name: str) -> Case:
        rng = self.rng
        for _ in range(int(rng.integers(2, 6))):
            self.new_input()
        if not any(n.dtype in dtypes.FLOATS for n in self.inputs):
            self.new_input(dtypes.FLOAT64)
        ops = int(rng.integers(self.config.min_ops, self.config.max_ops + 1))
        derivs: list[Deriv] = []
        extra: list[Node] = []
        for step in range(ops):
            self.grow()
            if step in (ops // 2, ops - 1) and rng.random() < 0.8:
                deriv = self.deriv()
                if deriv is not None:
                    derivs.append(deriv)
                    try:
                        built = derivative_nodes(deriv)
                    except Exception as error:
                        key = f"autodiff:{type(error).__name__}"
                        message = _describe_error(error)
                        self.findings.append(Finding("crash", key, message, group="derivatives"))
                        continue
                    extra.extend(built)
                    self.pool.extend(n for n in built if n.size <= self.max_size)
        computed = [n for n in self.pool if n.op not in ("input", "const")]
        outputs = list(computed[-1:])
        for _ in range(int(rng.integers(2, 8))):
            outputs.append(self.pick())
        outputs += extra
        unique: list[Node] = []
        for node in outputs:
            if all(node is not u for u in unique):
                unique.append(node)
        unique += [n for n in self.structured() if all(n is not u for u in unique)]
        if rng.random() < 0.2:  # the same node twice: two output buffers for one value
            unique.append(unique[int(rng.integers(len(unique)))])
        points = []
        for k in range(max(1, self.config.points)):
            rate = 0.0 if k else float(rng.choice([0.1, 0.2, 0.4]))
            points.append(tuple(self.values(n.shape, n.dtype, rate) for n in self.inputs))
        used = {id(n) for n in topological_order(unique)}
        for deriv in derivs:
            used |= {id(n) for n in topological_order(deriv.outputs)}
        # Inputs no output uses stay in one case of four (they are still arguments).
        unused_stay = rng.random() < 0.25
        keep = [i for i, n in enumerate(self.inputs) if id(n) in used or unused_stay]
        inputs = tuple(self.inputs[i] for i in keep)
        points = [tuple(p[i] for i in keep) for p in points]
        return Case(inputs, tuple(unique), points, tuple(derivs), name)


def derivative_nodes(deriv: Deriv) -> list[Node]:
    """The reverse-mode and forward-mode nodes of a derivative check (grad or vjp, then jvp)."""
    outputs, wrt = list(deriv.outputs), list(deriv.wrt)
    if deriv.use_grad:
        reverse = gc.grad(outputs[0], wrt)
    else:
        reverse = gc.vjp(outputs, wrt, [gc.constant(u) for u in deriv.cotangents])
    forward = gc.jvp(outputs, wrt, [gc.constant(v) for v in deriv.tangents])
    return list(reverse) + list(forward)


def generate(config: Config, index: int, stats: Stats) -> tuple[Case, list[Finding]]:
    """Case ``index`` of the run seeded ``config.seed`` (the same case every time)."""
    rng = np.random.default_rng([config.seed, index])
    generator = Generator(rng, config, stats)
    generator.aux = np.random.default_rng([config.seed, index, 1])
    name = f"{config.seed}/{index}"
    case = generator.case(name)
    for finding in generator.findings:
        finding.case = name
    return case, generator.findings


# -- evaluating ---------------------------------------------------------------------------------


def call_value(node: Node, array: np.ndarray, numpy_scalars: bool = False) -> object:
    """An argument as a user passes it: Python scalars (np.float32 for float32), or with
    ``numpy_scalars`` numpy scalars and 0-d arrays (the call path's slow lane); arrays as is."""
    if node.shape == ():
        if numpy_scalars:
            value = np.asarray(array)
            return value if node.dtype in (dtypes.INT64, dtypes.BOOL) else value[()]
        return np.float32(array) if node.dtype == dtypes.FLOAT32 else np.asarray(array).item()
    return np.ascontiguousarray(array)


def call_args(case: Case, point: Sequence[np.ndarray], numpy_scalars: bool = False) -> list:
    return [call_value(n, v, numpy_scalars) for n, v in zip(case.inputs, point)]


def node_values(graph: Graph, point: Sequence[np.ndarray], pins: dict | None = None) -> dict:
    """Every node's reference value; ``pins`` holds fixed values for some nodes."""
    if not pins:
        return evaluate_all(graph, [np.asarray(v) for v in point], keep_all=True)
    env: dict[Node, np.ndarray] = dict(zip(graph.inputs, point))
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if node in env:
                continue
            if node in pins:
                env[node] = pins[node]
            else:
                env[node] = OPS[node.op].evaluate(node, *(env[a] for a in node.args))
    return env


def output_values(graph: Graph, point: Sequence[np.ndarray]) -> list[np.ndarray]:
    env = node_values(graph, point)
    return [np.asarray(env[o]) for o in graph.outputs]


def _as_tuple(result: object, graph: Graph) -> tuple:
    return (result,) if graph.single_output else tuple(result)  # type: ignore[arg-type]


def _describe_error(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    for frame in reversed(frames):
        if "graphc" in frame.filename or "passes" in frame.filename:
            where = f" at {os.path.basename(frame.filename)}:{frame.lineno} ({frame.name})"
            break
    return f"{type(error).__name__}: {error}{where}"


# -- checks -------------------------------------------------------------------------------------


class Context:
    """What the checks of one case share (built lazily): the graph, its optimization, fn."""

    def __init__(self, case: Case, config: Config, stats: Stats):
        self.case = case
        self.config = config
        self.stats = stats
        self._graph: Graph | None = None
        self.optimized: Graph | None = None
        self._fn: gc.CompiledFunction | None = None

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._graph = self.case.graph()
        return self._graph

    def compile(self, graph: Graph, **options) -> gc.CompiledFunction:
        """``gc.compile`` without the cache, and with libm's scalar functions unless
        ``vector_math`` is given: libmvec's results depend on an element's place in a loop
        (vector lanes or the scalar remainder), so fused and unfused code differ with it."""
        self.stats.compiles += 1
        options.setdefault("vector_math", False)
        return gc.compile(graph, cache=False, **options)

    @property
    def fn(self) -> gc.CompiledFunction:
        """``gc.compile(graph)``; in one case of four, split into parts of a few kernels each,
        so values also cross function boundaries (the fusion check compares with one part)."""
        if self._fn is None:
            crc = zlib.crc32(self.case.name.encode())
            budget = 8 + crc % 40 if crc % 4 == 1 else plan_module.PART_BUDGET
            saved, plan_module.PART_BUDGET = plan_module.PART_BUDGET, budget
            try:
                self._fn = self.compile(self.graph)
            finally:
                plan_module.PART_BUDGET = saved
        return self._fn

    def finding(self, check: str, key: str, message: str, known: str | None = None) -> Finding:
        return Finding(check, key, message, known, self.case.name)


def _crash(ctx: Context, stage: str, error: BaseException) -> Finding:
    key = f"{stage}:{type(error).__name__}"
    return ctx.finding("crash", key, _describe_error(error), _explain_crash(error))


def _explain_crash(error: BaseException) -> str | None:
    """The known bug behind an exception, recognised by where it was raised."""
    files = {os.path.basename(f.filename) for f in traceback.extract_tb(error.__traceback__)}
    text = str(error)
    if "cache.py" in files and "memoryview" in text and "zeros in shape" in text:
        return "empty_constant"
    if "stabilize.py" in files and "a boolean operand" in text:
        return "stabilize_bool"
    return None


# --- the optimizer, pass by pass -------------------------------------------------------------


@dataclass
class Step:
    name: str
    round: int
    before: Graph
    after: Graph
    exact: Graph  # the pass with its documented value-changing rewrites left out
    sites: list[tuple[Node, Node, str]]  # (node, replacement, why it may change the value)
    fold_bug: bool = False  # fold_constants took the branch of the known bug


def _pow_caveat(node: Node) -> bool:
    exponent = splat(node.args[1]) if node.op == "pow" else None
    return exponent is not None and not isinstance(exponent, bool) and exponent in (2, -1)


def _fold_bug_branch(node: Node) -> bool:
    """fold_constants' "broadcast scalar" branch with an array constant argument."""
    if OPS[node.op].kind != "elementwise" or not node.args:
        return False
    if not all(a.op == "const" or (a.op == "broadcast_to" and a.args[0].op == "const")
               for a in node.args):  # fmt: skip
        return False
    payload = max(1, *(a.size if a.op == "const" else a.args[0].size for a in node.args))
    return node.size > payload and any(a.op == "const" and a.size > 1 for a in node.args)


def _instrument(rules: dict, site_kind: Callable[[Node], str | None], exact: bool, sink: list):
    def wrap(rule):
        def wrapped(node: Node) -> Node | None:
            replacement = rule(node)
            if replacement is not None:
                kind = site_kind(node)
                if kind is not None:
                    if exact:
                        return None
                    sink.append((node, replacement, kind))
            return replacement

        return wrapped

    return {op: wrap(rule) for op, rule in rules.items()}


def optimizer_steps(graph: Graph) -> tuple[list[Step], Graph]:
    """Replay ``passes.run(graph)`` (the default pipeline) one pass at a time."""
    steps: list[Step] = []
    simplify_rules = make_rules()
    stabilize_rules = dict.fromkeys(OPS, stabilize_rule)  # the rule ignores other ops
    for round_ in range(1, passes.MAX_ROUNDS + 1):
        changed = False
        for name in passes.DEFAULT_PIPELINE:
            sites: list[tuple[Node, Node, str]] = []
            fold_hits: list = []
            # As the driver does (passes.make_pass), each rule pass runs inside bodies first;
            # the sites checked are the top level's (their values come from its evaluation).
            if name == "simplify":
                kind = lambda n: "pow" if _pow_caveat(n) else None  # noqa: E731
                exact_rules = _instrument(simplify_rules, kind, True, [])
                after = _rewrite_deep(
                    graph, _instrument(simplify_rules, kind, False, sites), simplify_rules
                )
                exact = _rewrite_deep(graph, exact_rules, exact_rules)
            elif name == "stabilize":
                instrumented = _instrument(stabilize_rules, lambda n: "stabilize", False, sites)
                after = _rewrite_deep(graph, instrumented, stabilize_rules)
                exact = graph
            elif name == "fold_constants":
                # fold_constants' own table (private: which ops it never folds is its business).
                table = {op: _watch(rule, fold_hits) for op, rule in fold_module._RULES.items()}
                after = exact = _rewrite_deep(graph, table, table)
            else:
                after = exact = passes.make_pass(name)(graph)
            if after is not graph:
                changed = True
                steps.append(Step(name, round_, graph, after, exact, sites, bool(fold_hits)))
            graph = after
        if not changed:
            break
    return steps, graph


def _rewrite_deep(graph: Graph, rules: dict, body_rules: dict) -> Graph:
    """``rewrite(graph, rules)`` after ``body_rules`` rewrote the bodies nodes hold."""

    def in_body(body: Graph) -> Graph:
        return rewrite(map_subgraphs(body, in_body), body_rules)

    return rewrite(map_subgraphs(graph, in_body), rules)


def _watch(rule, hits: list):
    def watched(node: Node) -> Node | None:
        if _fold_bug_branch(node):
            hits.append(node)
        return rule(node)

    return watched


def _value_of(node: Node, env: dict, memo: dict) -> np.ndarray:
    """A node's value from ``env``, evaluating nodes outside it (rewrite replacements)."""
    if node in env:
        return env[node]
    if node in memo:
        return memo[node]
    stack = [node]
    while stack:
        top = stack[-1]
        missing = [a for a in top.args if a not in env and a not in memo]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        if top in memo or top in env:
            continue
        args = [env[a] if a in env else memo[a] for a in top.args]
        with np.errstate(all="ignore"):
            memo[top] = np.asarray(OPS[top.op].evaluate(top, *args))
    return memo[node]


def _site_mismatch(
    kind: str, node: Node, old: np.ndarray, new: np.ndarray, exact: np.ndarray | None = None
) -> str | None:
    """Whether a value-changing rewrite keeps its documented promise: ``pow`` rewrites within
    1 ulp of pow; ``stabilize`` rewrites no further from the ``exact`` value (the original
    expression in 400-digit arithmetic) than the original, beyond a few ulp."""
    old, new = np.asarray(old), np.asarray(new)
    if same_bits(new, old).all():
        return None
    if kind == "pow":
        distance = ulp_distance(new, old)
        bad = distance > POW_REWRITE_ULPS
        if not bad.any():
            return None
        return f"{distance.max():.0f} ulp: pow gives {_show(old, bad)}, rewrite {_show(new, bad)}"
    if exact is None:  # an expression the exact evaluator does not know: nothing to judge
        return None
    exact = exact.astype(node.dtype)
    better = ulp_distance(new, exact) <= ulp_distance(old, exact) + MAX_ULPS
    # Finite where the original overflowed (exp(1e308) is beyond even decimal's exponents).
    fixed = np.isinf(old) & np.isfinite(new)
    ok = better | fixed | same_bits(new, old)
    if ok.all():
        return None
    bad = ~ok
    return (
        f"stabilize changed {_show(old, bad)} to {_show(new, bad)}, further from the exact "
        f"{_show(exact, bad)}"
    )


# 400 digits: log(1 + x) needs about 20 more than -log10(x), and x can be 5e-324.
_DECIMAL = decimal.Context(prec=400, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[])


def _to_float(value: decimal.Decimal) -> float:
    return float(value)


def _to_decimal(value: float) -> decimal.Decimal:
    return _DECIMAL.create_decimal_from_float(value)


def _decimal_log(x: decimal.Decimal) -> decimal.Decimal:
    if x.is_nan() or x < 0:
        return decimal.Decimal("NaN")
    return decimal.Decimal("-Infinity") if x == 0 else _DECIMAL.ln(x)


_EXACT_UNARY = {
    "exp": lambda x: _DECIMAL.exp(x),
    "log": _decimal_log,
    "log1p": lambda x: _decimal_log(_DECIMAL.add(x, 1)),
    "expm1": lambda x: _DECIMAL.subtract(_DECIMAL.exp(x), 1),
    "neg": lambda x: -x,
    "sigmoid": lambda x: _DECIMAL.divide(1, _DECIMAL.add(1, _DECIMAL.exp(-x))),
    "softplus": lambda x: _decimal_log(_DECIMAL.add(1, _DECIMAL.exp(x))),
}
_EXACT_BINARY = {"add": _DECIMAL.add, "sub": _DECIMAL.subtract}


def exact_value(node: Node, env: dict, memo: dict, depth: int = 3) -> np.ndarray | None:
    """``node``'s value in 400-digit decimal arithmetic, through at most ``depth`` levels of the
    ops stabilize's patterns are made of (log(sum(exp(x))) is three), from the float values of
    the nodes below; None for an expression of other ops."""
    op = node.op
    if depth == 0 or not (op in _EXACT_UNARY or op in _EXACT_BINARY or op in _EXACT_SHAPE):
        return None
    args = [_exact_arg(a, env, memo, depth - 1) for a in node.args]
    if op in _EXACT_UNARY:
        return np.vectorize(_EXACT_UNARY[op], otypes=[object])(args[0])
    if op in _EXACT_BINARY:
        return np.vectorize(_EXACT_BINARY[op], otypes=[object])(*args)
    if op == "sum":
        (x,) = args
        if x.size == 0:
            return None
        total = np.sum(x, axis=node.attrs["axes"], keepdims=node.attrs["keepdims"])
        return np.asarray(total, dtype=object)
    target = np.broadcast_to if op == "broadcast_to" else np.reshape
    return np.asarray(target(args[0], node.attrs["shape"]), dtype=object)


_EXACT_SHAPE = {"sum", "broadcast_to", "reshape"}


def _exact_arg(node: Node, env: dict, memo: dict, depth: int) -> np.ndarray:
    """An argument of an exactly evaluated node: exact itself within ``depth``, else its float
    value (as a decimal)."""
    inner = exact_value(node, env, memo, depth)
    if inner is not None:
        return inner
    value = np.asarray(_value_of(node, env, memo), dtype=np.float64)
    return np.vectorize(_to_decimal, otypes=[object])(value)


def check_optimize(ctx: Context) -> list[Finding]:
    case, stats = ctx.case, ctx.stats
    findings: list[Finding] = []
    try:
        steps, final = optimizer_steps(ctx.graph)
    except Exception as error:
        return [_crash(ctx, "optimize", error)]
    ctx.optimized = final
    try:
        reference = gc.optimize(ctx.graph)
    except Exception as error:
        return [_crash(ctx, "optimize", error)]
    if reference.structural_hash != final.structural_hash:
        findings.append(
            ctx.finding(
                "optimize",
                "determinism",
                "replaying the pipeline pass by pass gave another graph than gc.optimize",
            )
        )
    cache: dict[int, list] = {}

    def outputs_of(graph: Graph) -> list[list[np.ndarray]]:
        if id(graph) not in cache:
            cache[id(graph)] = [output_values(graph, p) for p in case.points]
        return cache[id(graph)]

    for step in steps:
        try:
            step.after.verify()
        except Exception as error:
            findings.append(ctx.finding("optimize", f"{step.name}:verify", str(error)))
            continue
        known = "fold_broadcast_product" if step.fold_bug else None
        if step.exact is not step.before:
            try:
                before, exact = outputs_of(step.before), outputs_of(step.exact)
            except Exception as error:
                findings.append(_crash(ctx, "evaluate", error))
                continue
            for p, (vb, ve) in enumerate(zip(before, exact)):
                for k, (b, e) in enumerate(zip(vb, ve)):
                    stats.comparisons["optimize"] += 1
                    if b.dtype != e.dtype or b.shape != e.shape:
                        message = f"output {k} changed type: {b.dtype}{b.shape} -> {e.dtype}"
                    elif not same_bits(e, b).all():
                        bad = ~same_bits(e, b)
                        message = (
                            f"output {k} at point {p}: {_show(b, bad)} before {step.name} "
                            f"(round {step.round}), {_show(e, bad)} after"
                        )
                    else:
                        continue
                    findings.append(ctx.finding("optimize", step.name, message, known))
                    break
                else:
                    continue
                break
        if step.sites:
            for p, point in enumerate(case.points):
                env = node_values(step.after, point)
                memo: dict = {}
                for node, replacement, kind in step.sites:
                    stats.comparisons[f"optimize:{kind}"] += 1
                    try:
                        old, new = _value_of(node, env, memo), _value_of(replacement, env, memo)
                    except Exception as error:
                        findings.append(_crash(ctx, "evaluate", error))
                        break
                    exact_floats = None
                    if kind == "stabilize":
                        with contextlib.suppress(Exception):
                            digits = exact_value(node, env, memo)
                            if digits is not None:
                                to_float = np.vectorize(_to_float, otypes=[np.float64])
                                exact_floats = to_float(digits)
                    problem = _site_mismatch(kind, node, old, new, exact_floats)
                    if problem is not None:
                        key = f"{step.name}:{kind}:{node.op}"
                        findings.append(ctx.finding("optimize", key, f"point {p}: {problem}"))
    return findings


# --- compiled code ---------------------------------------------------------------------------


def _types(values: Iterable[object]) -> list[str]:
    result = []
    for v in values:
        if isinstance(v, np.ndarray):
            result.append(f"ndarray[{v.dtype}{list(v.shape)}]")
        else:
            result.append(type(v).__name__)
    return result


def exploded(graph: Graph) -> Graph:
    """``graph`` with every node but its inputs as an output: nothing is fused away."""
    return Graph(list(graph.inputs), [n for n in graph.nodes if n.op != "input"])


def check_compile(ctx: Context) -> list[Finding]:
    """``compile`` (every node, locally), ``fusion``, ``types``, ``batch``."""
    case, stats = ctx.case, ctx.stats
    findings: list[Finding] = []
    graph = ctx.graph
    if ctx.optimized is None:
        try:
            ctx.optimized = gc.optimize(graph)
        except Exception as error:
            return [_crash(ctx, "optimize", error)]
    optimized = ctx.optimized
    try:
        fn = ctx.fn
    except Exception as error:
        return [_crash(ctx, "compile", error)]
    every = exploded(optimized)
    empty = any(_empty_reduction(n) for n in optimized.nodes)
    empty_known = "empty_reduction" if empty else None
    # One case in two also runs every node with vector_math=True (libmvec in loops).
    with_vector = zlib.crc32(case.name.encode()) % 2 == 0 and engine.vector_math_available()
    try:
        fx = ctx.compile(every, optimize=False) if every.outputs else None
        vector = None
        if fx is not None and with_vector:
            vector = ctx.compile(every, optimize=False, vector_math=True)
    except Exception as error:
        return [_crash(ctx, "compile", error)]
    got_rows = []
    reads_libm = [_reads_libm(node) for node in optimized.outputs]
    for p, point in enumerate(case.points):
        args = call_args(case, point, numpy_scalars=p % 2 == 1)
        try:
            got = _as_tuple(fn(*args), graph)
        except Exception as error:
            findings.append(_crash(ctx, "call", error))
            return findings
        got_rows.append(got)
        try:
            want = _as_tuple(gc.evaluate(graph, *args), graph)
        except Exception as error:
            findings.append(_crash(ctx, "evaluate", error))
            return findings
        stats.comparisons["types"] += len(got)
        if _types(got) != _types(want):
            findings.append(
                ctx.finding(
                    "types",
                    "result",
                    f"compiled results {_types(got)}, gc.evaluate {_types(want)}",
                )
            )
        if fx is None:
            continue
        try:
            every_values = _as_tuple(fx(*args), every)
        except Exception as error:
            findings.append(_crash(ctx, "call", error))
            return findings
        values: dict[Node, np.ndarray] = dict(zip(optimized.inputs, point))
        for node, value in zip(every.outputs, every_values):
            values[node] = np.asarray(value)
        # fusion: the default compile against the unfused one, output by output. Bitwise,
        # except after a libm function: where fusion makes its argument a constant (a `where` of
        # constants), LLVM folds the call with the host's correctly rounded value, and glibc's
        # float32 functions are within 1 ulp of it (sinhf(4.0f) is 1 ulp off).
        for k, (node, value) in enumerate(zip(optimized.outputs, got)):
            stats.comparisons["fusion"] += 1
            expected = values[node]
            value = np.asarray(value)
            if value.dtype == expected.dtype and _float(expected) and reads_libm[k]:
                agree = value.shape == expected.shape and bool(
                    np.all(ulp_distance(value, expected) <= MAX_ULPS)
                )
            else:
                agree = value.dtype == expected.dtype and bool(same_bits(value, expected).all())
            if not agree:
                bad = ~same_bits(value, expected) if value.shape == expected.shape else None
                findings.append(
                    ctx.finding(
                        "fusion",
                        node.op,
                        f"output {k} ({node.op}) at point {p}: gc.compile(g) gives "
                        f"{_show(value, bad)}, the unfused compile {_show(expected, bad)}",
                        empty_known,
                    )
                )
                break
        # compile: each node against its op applied to the compiled values of its arguments.
        findings += _local_checks(ctx, every, values, p, "compile", MAX_ULPS)
        if vector is not None:
            try:
                vector_values = _as_tuple(vector(*args), every)
            except Exception as error:
                findings.append(_crash(ctx, "call", error))
                return findings
            values = dict(zip(optimized.inputs, point))
            for node, value in zip(every.outputs, vector_values):
                values[node] = np.asarray(value)
            findings += _local_checks(ctx, every, values, p, "vector_math", VECTOR_MATH_ULPS)
    findings += _check_batch(ctx, got_rows, empty_known)
    return findings


def _local_checks(ctx, every: Graph, values: dict, p: int, check: str, ulps: int) -> list:
    findings = []
    for node in every.outputs:
        ctx.stats.comparisons[check] += 1
        args_values = [values[a] for a in node.args]
        try:
            message = local_mismatch(node, values[node], args_values, ulps)
        except Exception as error:
            findings.append(_crash(ctx, f"reference:{node.op}", error))
            continue
        if message is None:
            continue
        known = None
        if _empty_reduction(node):
            known = "empty_reduction"
        elif node.op in ("lt", "le", "gt", "ge") and all(a.dtype == dtypes.BOOL for a in node.args):
            known = "bool_ordering"
        elif _cast_saturation(node, values[node], args_values):
            known = "cast_saturates"
        key = node.op if node.op != "cast" else f"cast:{node.args[0].dtype}->{node.dtype}"
        arguments = ", ".join(a.type_str for a in node.args)
        message = f"{node.op} {node.type_str} of {arguments} at point {p}: {message}"
        findings.append(ctx.finding(check, key, message, known))
    return findings


def _check_batch(ctx: Context, rows: list[tuple], known: str | None) -> list[Finding]:
    case, fn, graph = ctx.case, ctx.fn, ctx.graph
    if not case.points or not case.inputs:
        return []
    rng = np.random.default_rng(len(case.points) * 7919 + len(graph.nodes))
    shared = [bool(rng.random() < 0.3) for _ in case.inputs]
    if all(shared):
        shared[0] = False
    batched = []
    for k, node in enumerate(case.inputs):
        if shared[k]:
            batched.append(np.asarray(case.points[0][k]))  # (ascontiguousarray makes 0-d 1-d)
        else:
            stacked = np.stack([np.asarray(p[k], dtype=node.dtype) for p in case.points])
            if rng.random() < 0.3:  # a strided view: the batch entry copies or strides it
                stacked = np.repeat(stacked, 2, axis=0)[::2]
            batched.append(stacked)
    threads = 2 if len(case.points) > 1 and rng.random() < 0.3 else 1
    try:
        out = _as_tuple(fn.batch(*batched, threads=threads), graph)
    except Exception as error:
        return [_crash(ctx, "batch", error)]
    for r, point in enumerate(case.points):
        row = [case.points[0][k] if shared[k] else point[k] for k in range(len(point))]
        try:
            single = rows[r] if not any(shared) else _as_tuple(fn(*call_args(case, row)), graph)
        except Exception as error:
            return [_crash(ctx, "call", error)]
        for k, (expected, batch_out) in enumerate(zip(single, out)):
            ctx.stats.comparisons["batch"] += 1
            expected = np.asarray(expected)
            value = np.asarray(batch_out[r])
            if value.dtype != expected.dtype or not same_bits(value, expected).all():
                bad = ~same_bits(value, expected) if value.shape == expected.shape else None
                return [
                    ctx.finding(
                        "batch",
                        "row",
                        f"row {r}, output {k} (threads={threads}, shared inputs "
                        f"{[n.name for n, s in zip(case.inputs, shared) if s]}): batch gives "
                        f"{_show(value, bad)}, fn gives {_show(expected, bad)}",
                        known,
                    )
                ]
    return []


# --- derivatives ----------------------------------------------------------------------------


def promote_case(case: Case) -> Case:
    """``case`` with every float32 input, constant and cast made float64.

    Derivatives are checked on this version: in float32 the rounding of a single cancellation
    (``3 * x / x``) is as large as the derivative itself, so neither finite differences nor the
    dot-product test could tell a wrong rule from rounding. The float32 derivative graphs are
    still optimized and compiled by the other checks.
    """
    roots = list(case.outputs) + [o for d in case.derivs for o in d.outputs]
    order = topological_order(roots, case.inputs)
    if not any(n.dtype == dtypes.FLOAT32 for n in order):
        return case
    mapping: dict[Node, Node] = {}
    for node in order:
        if node.op == "input":
            single = node.dtype == dtypes.FLOAT32
            name = str(node.name)
            mapping[node] = gc.tensor(name, node.shape, dtypes.FLOAT64) if single else node
        elif node.op == "const":
            single = node.dtype == dtypes.FLOAT32
            mapping[node] = gc.constant(node.value.astype(np.float64)) if single else node
        elif node.op == "cast" and node.attrs["dtype"] == dtypes.FLOAT32:
            mapping[node] = make("cast", (mapping[node.args[0]],), Attrs(dtype=dtypes.FLOAT64))
        else:
            mapping[node] = rebuild(node, tuple(mapping[a] for a in node.args))
    wide = lambda a: a.astype(np.float64) if a.dtype == np.float32 else a  # noqa: E731
    derivs = tuple(
        Deriv(
            tuple(mapping[o] for o in d.outputs),
            tuple(mapping[w] for w in d.wrt),
            tuple(wide(u) for u in d.cotangents),
            tuple(wide(v) for v in d.tangents),
            d.use_grad,
        )
        for d in case.derivs
    )
    return Case(
        tuple(mapping.get(n, n) for n in case.inputs),
        tuple(mapping[o] for o in case.outputs),
        [tuple(wide(np.asarray(v)) for v in p) for p in case.points],
        derivs,
        case.name,
    )


def _zero_pow_base(graph: Graph, env: dict) -> bool:
    return any(n.op == "pow" and np.any(np.asarray(env[n.args[0]]) == 0) for n in graph.nodes)


def _pattern(node: Node, env: dict) -> np.ndarray | None:
    """The discrete state of a node whose derivative is piecewise (see _KINKS)."""
    op = node.op
    with np.errstate(all="ignore"):
        if op in ("lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not", "sign"):
            return np.asarray(env[node])
        if op == "cast":
            return np.asarray(env[node]) if node.dtype not in dtypes.FLOATS else None
        if op == "abs":
            return np.sign(np.asarray(env[node.args[0]], dtype=np.float64))
        if op in ("maximum", "minimum"):
            a, b = (np.asarray(env[x], dtype=np.float64) for x in node.args)
            return np.sign(a - b)
        if op in ("max", "min"):
            x = np.asarray(env[node.args[0]])
            kept = np.asarray(env[node])
            if not node.attrs["keepdims"]:
                kept = np.expand_dims(kept, node.attrs["axes"])
            return x == kept
        if op == "where":
            return np.asarray(env[node.args[0]])
        if op in ("floor", "ceil", "round"):  # piecewise constant: the value is the piece
            return np.asarray(env[node])
        if op in ("remainder", "fmod"):  # a jump wherever the quotient's integer part moves
            a, b = (np.asarray(env[x], dtype=np.float64) for x in node.args)
            return np.floor(a / b) if op == "remainder" else np.trunc(a / b)
        if op == "clip":
            x, lo, hi = (np.asarray(env[v], dtype=np.float64) for v in node.args)
            return np.sign(x - lo) * 9 + np.sign(hi - x) * 3 + np.sign(hi - lo)
        if op == "pow":  # a base crossing 0 is a kink unless the exponent is an integer
            base = np.asarray(env[node.args[0]], dtype=np.float64)
            exponent = np.asarray(env[node.args[1]], dtype=np.float64)
            return np.where(exponent == np.round(exponent), 0.0, np.sign(base))
    return None


def _fsum_dot(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> tuple[float, float]:
    """sum_k <a_k, b_k> and sum_k <|a_k|, |b_k|>, in float64 (exactly rounded when finite)."""
    with np.errstate(all="ignore"):
        terms = [
            (np.asarray(x, dtype=np.float64) * np.asarray(y, dtype=np.float64)).reshape(-1)
            for x, y in zip(a, b)
        ]
        flat = np.concatenate(terms) if terms else np.zeros(0)
        if not np.all(np.isfinite(flat)):
            return float(np.sum(flat)), float(np.sum(np.abs(flat)))
    try:
        return math.fsum(flat.tolist()), math.fsum(np.abs(flat).tolist())
    except OverflowError:
        return math.inf, math.inf


# How the magnitude of a value's terms, before any cancellation, follows from its arguments'
# (a running error bound: a computed value is off by about eps times this, times the depth).
_MAGNITUDE_LINEAR = {"add", "sub"}
_MAGNITUDE_SAME = {"neg", "abs", "stop_gradient"}
_MAGNITUDE_APPLY = {
    "reshape", "transpose", "broadcast_to", "slice", "unslice", "concatenate", "sum", "prod",
    "max", "min", "matmul",
}  # fmt: skip


def magnitudes(graph: Graph, env: dict) -> dict[Node, np.ndarray]:
    """For each float node, a bound on the magnitude of the terms that made its value."""
    bound: dict[Node, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            value = np.abs(np.asarray(env[node], dtype=np.float64))
            op, args = node.op, node.args
            if op in _MAGNITUDE_LINEAR:
                new = bound[args[0]] + bound[args[1]]
            elif op == "mul":
                new = bound[args[0]] * bound[args[1]]
            elif op == "div":
                new = bound[args[0]] / np.abs(np.asarray(env[args[1]], dtype=np.float64))
            elif op in _MAGNITUDE_SAME or (op == "cast" and node.dtype in dtypes.FLOATS):
                new = bound[args[0]]
            elif op == "where":
                new = np.where(env[args[0]], bound[args[1]], bound[args[2]])
            elif op in ("maximum", "minimum"):
                new = np.maximum(bound[args[0]], bound[args[1]])
            elif op in _MAGNITUDE_APPLY:
                floats = [bound[a] for a in args]
                new = np.asarray(OPS[op].evaluate(_as_float64(node), *floats), dtype=np.float64)
            else:
                new = value
            bound[node] = np.maximum(np.broadcast_to(new, node.shape), value)
    return bound


def _as_float64(node: Node) -> Node:
    """A stand-in of ``node`` with a float64 type, for evaluating its op on magnitudes."""
    return Node(node.op, node.args, node.attrs, node.shape, dtypes.FLOAT64)


FD_STEP = 1e-5


def check_derivatives(ctx: Context) -> list[Finding]:
    """The case's derivative checks, then each op's own rules at the values it sees."""
    case = promote_case(ctx.case)
    findings = derivative_checks(ctx, case, local=False)
    findings += rule_checks(ctx, case)
    return findings


def rule_checks(ctx: Context, case: Case, limit: int = 24) -> list[Finding]:
    """Each op of the derivative checks' functions alone, its arguments made inputs holding the
    values they have at the first point where all are finite: its jvp and vjp rules against
    finite differences and each other, without anything around them. Unlike the whole graph's
    derivative, a single rule's may not be nan where finite differences are finite (the whole
    graph's can be: ``0 * nan`` from a discarded element, as in the where trap)."""
    roots = [o for d in case.derivs for o in d.outputs]
    if not roots:
        return []
    function = Graph(list(case.inputs), roots)
    nodes = [
        n
        for n in function.nodes
        if n.op not in ("input", "const")
        and OPS[n.op].jvp is not None
        and n.dtype == dtypes.FLOAT64
        and any(a.dtype == dtypes.FLOAT64 for a in n.args)
    ]
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    if len(nodes) > limit:
        nodes = [nodes[i] for i in sorted(rng.choice(len(nodes), limit, replace=False))]
    env = None
    for point in case.points:
        here = node_values(function, point)
        if all(np.all(np.isfinite(v)) for n, v in here.items() if n.dtype in dtypes.FLOATS):
            env = here
            break
    if env is None:
        ctx.stats.skipped["rules: no finite point"] += 1
        return []
    findings = []
    for node in nodes:
        values = tuple(np.asarray(env[a]) for a in node.args)
        if _unresolvable(node, values):
            ctx.stats.skipped["rules: singular or subnormal point"] += 1
            continue
        # Float arguments become inputs; the others (indices, conditions) keep their values as
        # constants: an op may require them to be constants (the positions of sparse_gather).
        inputs: list[Node] = []
        args: list[Node] = []
        for a, value in zip(node.args, values):
            if a.dtype == dtypes.FLOAT64:
                inputs.append(gc.tensor(f"a{len(inputs)}", a.shape, a.dtype))
                args.append(inputs[-1])
            else:
                args.append(gc.constant(value, a.dtype))
        local = make(node.op, tuple(args), node.attrs)
        # One argument at a time: pow(0, b) has a derivative in the base where the exponent's
        # finite differences are not finite.
        cotangent = rng.standard_normal(local.shape)
        derivs = tuple(
            Deriv((local,), (w,), (cotangent,), (rng.standard_normal(w.shape),))
            for w in inputs
            if w.dtype == dtypes.FLOAT64
        )
        values = tuple(v for a, v in zip(node.args, values) if a.dtype == dtypes.FLOAT64)
        single = Case(tuple(inputs), (local,), [values], derivs, case.name)
        divisor = np.asarray(env[node.args[-1]], dtype=np.float64)
        tiny = node.op == "div" and bool(np.any(np.abs(divisor) < 1e-290))
        for finding in derivative_checks(ctx, single, local=True):
            if finding.check != "crash":
                finding.check, finding.key = "rule", node.op
                if tiny and "reverse mode gives" in finding.message and finding.known is None:
                    finding.known = "div_vjp_overflow"
            finding.group = "derivatives"
            finding.reproducer = reproducer(single, finding)  # already minimal
            findings.append(finding)
    return findings


# Where an op's derivative is infinite (a vertical tangent): finite differences across the
# point give a large finite number, the rule +-inf (and nan where infinities of both signs meet).
INFINITE_DERIVATIVE_AT = {
    "sqrt": (0.0,),
    "cbrt": (0.0,),
    "arcsin": (-1.0, 1.0),
    "arccos": (-1.0, 1.0),
    "arctanh": (-1.0, 1.0),
    "arccosh": (1.0,),
}


def _unresolvable(node: Node, values: Sequence[np.ndarray]) -> bool:
    """Points where finite differences of one op are no oracle: a subnormal argument (the step
    is larger than the value, across a singularity at 0: log, gammaln), a vertical tangent
    (INFINITE_DERIVATIVE_AT), a divisor whose partial a/b^2 is past float64 (the step crosses
    the pole), a negative base of pow (its exponent partial is nan by convention), a remainder
    by a divisor smaller than the step (jumps everywhere within it)."""
    floats = [v for v in values if v.dtype.kind == "f"]
    with np.errstate(all="ignore"):
        if any(np.any((v != 0) & (np.abs(v) < 1e-290)) for v in floats):
            return node.op != "div"  # div's tiny divisors are checked (div_vjp_overflow)
        if node.op in INFINITE_DERIVATIVE_AT and floats:
            if np.any(np.isin(floats[0], INFINITE_DERIVATIVE_AT[node.op])):
                return True
        if node.op == "div" and len(floats) == 2:
            a, b = (np.asarray(v, dtype=np.float64) for v in floats)
            if np.any(np.isinf(a / (b * b)) & np.isfinite(a) & (a != 0)):
                return True
        if node.op == "pow" and np.any(np.asarray(values[0], dtype=np.float64) < 0):
            return True
        if node.op in ("remainder", "fmod"):
            return bool(np.any(np.abs(np.asarray(values[1], dtype=np.float64)) < 1e-3))
    return False


def derivative_checks(ctx: Context, case: Case, local: bool) -> list[Finding]:
    """Dot-product, trace, jacobian and finite-difference checks of ``case.derivs``. With
    ``local`` (a single op), a nan or inf derivative where finite differences are finite is a
    finding too."""
    stats = ctx.stats
    findings: list[Finding] = []
    include_pow = "pow_grad_at_zero" in ctx.config.include_known
    for d, deriv in enumerate(case.derivs):
        try:
            nodes = derivative_nodes(deriv)
        except Exception as error:
            findings.append(_crash(ctx, "autodiff", error))
            continue
        reverse, forward = nodes[: len(deriv.wrt)], nodes[len(deriv.wrt) :]
        function = Graph(list(case.inputs), list(deriv.outputs))
        both = Graph(list(case.inputs), reverse + forward)
        jacobians: dict[str, Graph] = {}
        (output, *more), (wrt, *others) = deriv.outputs, deriv.wrt
        if not local and not more and not others and output.size * wrt.size <= 64:
            for mode in ("fwd", "rev"):
                try:
                    jacobian = gc.jacobian(output, wrt, mode=mode)
                    jacobians[mode] = Graph(list(case.inputs), [jacobian])
                except Exception as error:
                    findings.append(_crash(ctx, "autodiff", error))
        for p, point in enumerate(case.points):
            try:
                env = node_values(function, point)
                values = output_values(both, point)
            except Exception as error:
                findings.append(_crash(ctx, "evaluate", error))
                return findings
            zero_base = _zero_pow_base(function, env)
            if zero_base and not include_pow:
                stats.skipped["pow_grad_at_zero"] += 1
                continue
            known = "pow_grad_at_zero" if zero_base else None
            vj, jv = values[: len(deriv.wrt)], values[len(deriv.wrt) :]
            finite = all(np.all(np.isfinite(v)) for v in values)
            if not finite:
                if local:
                    message = _finite_differences(ctx, deriv, function, point, env, vj)
                    if message is not None:
                        message = f"at {_show_point(case, point)}: {message}"
                        findings.append(ctx.finding("fd", "rule", message, known))
                else:
                    stats.skipped["derivative not finite"] += 1
                continue
            # The dot-product test: <u, J v> == <J^T u, v>, up to the rounding of the terms
            # each side adds (their magnitudes before cancellation, see magnitudes()).
            left, left_abs = _fsum_dot(deriv.cotangents, jv)
            right, right_abs = _fsum_dot(vj, deriv.tangents)
            bounds = magnitudes(both, node_values(both, point))
            _, left_terms = _fsum_dot(deriv.cotangents, [bounds[n] for n in forward])
            _, right_terms = _fsum_dot([bounds[n] for n in reverse], deriv.tangents)
            rounding = 1e3 * _eps(np.float64) * (left_terms + right_terms)
            if not math.isfinite(rounding) or not math.isfinite(left - right):
                stats.skipped["dot: unbounded"] += 1
                continue
            stats.comparisons["rules" if local else "dot"] += 1
            tol = 1e-8 * (left_abs + right_abs) + rounding + 1e-300
            if abs(left - right) > tol:
                findings.append(
                    ctx.finding(
                        "dot",
                        "jvp/vjp",
                        f"derivative {d} at point {p}: <u, J v> = {left!r} (jvp), "
                        f"<J^T u, v> = {right!r} (vjp), |difference| {abs(left - right):.3g} "
                        f"> {tol:.3g}",
                        known,
                    )
                )
                continue
            if not local:
                stats.comparisons["trace"] += 1
                mismatch = _trace_mismatch(function, deriv, point, vj, bounds, reverse)
                if mismatch is not None:
                    # The known bug: nan from the trace where a non-differentiable op feeds an
                    # infinite partial derivative (a trace that is right gives no finding).
                    text, nan_only = mismatch
                    dead = any(OPS[n.op].jvp is None and n.args for n in function.nodes)
                    blame = "trace_zero_tangent" if dead and nan_only else known
                    findings.append(ctx.finding("dot", "trace", f"point {p}: {text}", blame))
            for mode, matrix_graph in jacobians.items():
                stats.comparisons["jacobian"] += 1
                message = _jacobian_mismatch(deriv, matrix_graph, point, left, tol)
                if message is not None:
                    key = f"jacobian:{mode}"
                    findings.append(ctx.finding("dot", key, f"point {p}: {message}", known))
            message = _finite_differences(ctx, deriv, function, point, env, vj)
            if message is not None:
                key = "grad" if deriv.use_grad else "vjp"
                message = f"derivative {d} at point {p}: {message}"
                findings.append(ctx.finding("fd", key, message, known))
    return findings


def _show_point(case: Case, point) -> str:
    return ", ".join(f"{n.name}={_show(v)}" for n, v in zip(case.inputs, point))


def _trace_mismatch(function, deriv, point, vj, bounds, reverse) -> tuple[str, bool] | None:
    """``gc.trace`` (each rule applied to numbers, line by line) against the derivative graphs
    (the same rules built as nodes and evaluated): equal up to rounding. Returns the mismatch
    and whether the trace only has nan where the graph has numbers.

    The trace seeds every input (zeros where no tangent is given) and forward mode then
    multiplies numbers: 0 * nan = nan where a partial derivative is nan (d/db of a**b at a < 0).
    So its tangents are compared with a jvp seeded the same way, not with the case's."""
    tangents, seeds = [], []
    for node, value in zip(function.inputs, point):
        match = [t for w, t in zip(deriv.wrt, deriv.tangents) if w is node]
        tangent = match[0] if match else np.zeros_like(np.asarray(value))
        tangents.append(tangent)
        if node.dtype in dtypes.FLOATS:
            seeds.append((node, tangent))
    forward = gc.jvp(list(function.outputs), [n for n, _ in seeds], [t for _, t in seeds])
    seeded = Graph(list(function.inputs), forward)
    jv = output_values(seeded, point)
    forward_bounds = magnitudes(seeded, node_values(seeded, point))
    args = [call_value(n, v) for n, v in zip(function.inputs, point)]
    traced = gc.trace(function, *args, tangents=tangents, cotangents=list(deriv.cotangents))
    adjoints = dict(zip(function.inputs, traced.input_adjoints))
    pairs = [
        ("tangent", t, j, forward_bounds[n]) for t, j, n in zip(traced.output_tangents, jv, forward)
    ]
    pairs += [
        ("adjoint", adjoints[w], v, bounds[n]) for w, v, n in zip(deriv.wrt, vj, reverse)
    ]  # fmt: skip
    for kind, got, want, bound in pairs:
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        with np.errstate(all="ignore"):
            tol = 1e-9 * (np.abs(got) + np.abs(want)) + 1e3 * _eps(np.float64) * bound
            ok = (np.abs(got - want) <= tol) | same_bits(got, want)
        if got.shape != want.shape or not ok.all():
            bad = ~ok if got.shape == want.shape else None
            nan_only = bad is not None and bool(np.all(np.isnan(got[bad])))
            return (
                f"{kind}: gc.trace gives {_show(got, bad)}, the graph {_show(want, bad)}",
                nan_only,
            )
    return None


def _jacobian_mismatch(deriv: Deriv, jacobian: Graph, point, jvp: float, tol: float) -> str | None:
    """``<u, J v>`` with J from ``gc.jacobian`` against the jvp's, within the dot test's
    tolerance plus the rounding of the products J v."""
    (matrix,) = output_values(jacobian, point)
    (u,), (v,) = deriv.cotangents, deriv.tangents
    flat = np.asarray(matrix, dtype=np.float64).reshape(u.size, v.size)
    with np.errstate(all="ignore"):
        products = flat @ v.reshape(-1).astype(np.float64)
        terms = np.abs(flat) @ np.abs(v.reshape(-1).astype(np.float64))
    value, _ = _fsum_dot([u], [products.reshape(u.shape)])
    _, size = _fsum_dot([u], [terms.reshape(u.shape)])
    if not (math.isfinite(value) and math.isfinite(size)):
        return None
    if abs(value - jvp) <= tol + 1e3 * _eps(np.float64) * size:
        return None
    return f"<u, J v> = {value!r} with gc.jacobian, {jvp!r} with gc.jvp"


def _linear(wide: dict, narrow: dict) -> bool:
    """Whether every intermediate value changes linearly over the steps: its own central
    differences at two step sizes agree. A sum can hide a node that does not (``sin(1e16 x)``
    oscillates many times within a step: its differences are noise, small next to a smooth
    term, while its derivative is huge)."""
    with np.errstate(all="ignore"):
        for node, slope in narrow.items():
            other = wide[node]
            finite = np.isfinite(slope) & np.isfinite(other)
            if not finite.any():
                continue
            scale = np.max(np.abs(slope[finite]), initial=0.0)
            close = np.abs(other - slope) <= 1e-2 * np.abs(slope) + 1e-6 * scale + 1e-300
            if not np.all(close | ~finite):
                return False
    return True


def _resolved(function: Graph, point, directions, step: float) -> bool:
    """Whether every intermediate value moves by many ulps over the step: a change below the
    resolution of a value (``cos(1e-20 + t)``, ``tanh(20 + t)``, ``x + 1e10``) is lost, and
    differences downstream can amplify the loss into any error."""
    moving = [(n, d) for n, d in zip(function.inputs, directions) if d is not None]
    nodes = [
        n
        for n in function.nodes
        if n.dtype in dtypes.FLOATS and n.op not in ("input", "const") and n.size
    ]
    if not nodes:
        return True
    tangents = gc.jvp(nodes, [n for n, _ in moving], [gc.constant(d) for _, d in moving])
    values = output_values(Graph(list(function.inputs), nodes + list(tangents)), point)
    with np.errstate(all="ignore"):
        for value, tangent in zip(values[: len(nodes)], values[len(nodes) :]):
            moved = np.abs(tangent.astype(np.float64)) * step
            resolution = 1e4 * _eps(np.float64) * np.abs(value.astype(np.float64))
            lost = (tangent != 0) & np.isfinite(value) & (moved < resolution)
            if lost.any():
                return False
    return True


def _finite_differences(ctx, deriv: Deriv, function: Graph, point, env, vj) -> str | None:
    """Compare ``<J^T u, d>`` with a central difference of ``<u, f(x + t d)>`` along a direction
    ``d`` over the float64 inputs (float32 ones are not perturbed: their steps are too coarse)."""
    stats = ctx.stats
    wrt_ids = {id(w): k for k, w in enumerate(deriv.wrt)}
    directions: list[np.ndarray | None] = []
    for node, value in zip(function.inputs, point):
        k = wrt_ids.get(id(node))
        if k is None or node.dtype != dtypes.FLOAT64:
            directions.append(None)
        else:
            # Steps relative to each element (absolute at 0): a step larger than the value
            # would jump over the structure near it (a / b at b = 1e-20).
            size = np.abs(np.asarray(value, dtype=np.float64))
            scale = np.where(size == 0, 1.0, size)
            with np.errstate(all="ignore"):
                directions.append(np.asarray(deriv.tangents[k], dtype=np.float64) * scale)
    if all(d is None for d in directions):
        stats.skipped["fd: no float64 input"] += 1
        return None
    if not _resolved(function, point, directions, FD_STEP / 4):
        stats.skipped["fd: step below resolution"] += 1
        return None
    pins = {n: env[n] for n in function.nodes if n.op == "stop_gradient"}
    kinks = [n for n in function.nodes if n.op in _KINKS]
    base: list[np.ndarray | None] = [_pattern(n, env) for n in kinks]

    floats = [n for n in function.nodes if n.dtype in dtypes.FLOATS]

    def at(t: float) -> dict | None:
        """Every node's value at ``x + t d`` (None at a kink or where an output is not finite)."""
        with np.errstate(all="ignore"):
            moved = [
                v if dv is None else np.asarray(v, dtype=np.float64) + t * dv
                for v, dv in zip(point, directions)
            ]
        here = node_values(function, moved, pins)
        for n, pattern in zip(kinks, base):
            now = _pattern(n, here)
            if pattern is not None and (
                now is None or not np.array_equal(now, pattern, equal_nan=True)
            ):
                return None
        if not all(np.all(np.isfinite(here[o])) for o in function.outputs):
            return None
        return here

    def central(h: float) -> tuple[float, float, dict] | None:
        """The estimate, its rounding noise, and every node's own central difference."""
        up, down = at(h), at(-h)
        if up is None or down is None:
            return None
        outs = function.outputs
        with np.errstate(all="ignore"):
            slopes = {
                n: (np.asarray(up[n], np.float64) - np.asarray(down[n], np.float64)) / (2 * h)
                for n in floats
            }
            # Differences element by element before summing: constant elements cancel
            # exactly, however large they are; the noise left is that of varying elements.
            value, _ = _fsum_dot(deriv.cotangents, [slopes[o] for o in outs])
            high, low = magnitudes(function, up), magnitudes(function, down)
            varying = [np.where(up[o] != down[o], high[o] + low[o], 0.0) / (2 * h) for o in outs]
            _, size = _fsum_dot(deriv.cotangents, varying)
        # Nothing moved means a zero derivative: _resolved() has ruled out a step absorbed on
        # the way (2**62 + x).
        return value, 4 * _eps(np.float64) * size, slopes

    # Three step sizes: the estimates must agree with each other before they judge anything.
    steps = (FD_STEP, FD_STEP / 2, FD_STEP / 4)
    estimates = [central(h) for h in steps]
    if any(e is None for e in estimates):
        stats.skipped["fd: kink or not finite"] += 1
        return None
    (d1, _, slopes1), (d2, _, _), (d3, noise, slopes3) = estimates  # type: ignore[misc]
    if not _linear(slopes1, slopes3):
        stats.skipped["fd: not linear over the step"] += 1
        return None
    estimate = (4 * d3 - d2) / 3  # Richardson: the h^2 term cancels
    spread = max(abs(d1 - d2), abs(d2 - d3))
    reverse = 0.0
    for k, w in enumerate(deriv.wrt):
        position = next(i for i, n in enumerate(function.inputs) if n is w)
        direction = directions[position]
        if direction is not None:
            reverse += _fsum_dot([vj[k]], [direction])[0]
    if not (math.isfinite(d1) and math.isfinite(noise)):
        stats.skipped["fd: kink or not finite"] += 1
        return None
    if noise > 1e-3 * abs(d3) + 1e-12:
        stats.skipped["fd: rounding noise"] += 1
        return None
    if spread > 1e-3 * abs(d3) + 1e-12:
        stats.skipped["fd: steps disagree"] += 1
        return None
    if not math.isfinite(reverse):
        if all(np.all(np.isfinite(v)) for v in vj):
            stats.skipped["fd: kink or not finite"] += 1  # finite terms, overflowing sum
            return None
        stats.comparisons["fd"] += 1
        return f"reverse mode gives {reverse!r}, central differences {estimate!r}"
    stats.comparisons["fd"] += 1
    tol = 4 * spread + 2 * noise + 1e-4 * max(abs(estimate), abs(reverse)) + 1e-10
    if abs(reverse - estimate) <= tol:
        return None
    return (
        f"<J^T u, d> = {reverse!r} by reverse mode, {estimate!r} by central differences "
        f"(steps {steps} give {d1!r}, {d2!r}, {d3!r})"
    )


# --- arguments ---------------------------------------------------------------------------------


def check_round_trips(ctx: Context) -> list[Finding]:
    """A graph through pickle (the flat JSON format) is the same graph, with the same values; a
    compiled function loaded from the disk cache computes what the fresh one computed."""
    case, graph = ctx.case, ctx.graph
    findings: list[Finding] = []
    try:
        copy = pickle.loads(pickle.dumps(graph))
        json.dumps(serialize.to_dict(graph))  # JSON-safe, as documented
    except Exception as error:
        return [_crash(ctx, "serialize", error)]
    ctx.stats.comparisons["serialize"] += 1
    if copy.structural_hash != graph.structural_hash or str(copy) != str(graph):
        findings.append(ctx.finding("serialize", "graph", "pickling changed the graph"))
        return findings
    for p, point in enumerate(case.points):
        for k, (a, b) in enumerate(zip(output_values(graph, point), output_values(copy, point))):
            if a.dtype != b.dtype or not same_bits(a, b).all():
                message = f"output {k} at point {p}: {_show(a)} before pickling, {_show(b)} after"
                return findings + [ctx.finding("serialize", "values", message)]
    # The cache: once in a few cases (each costs two compiles), a miss and then a hit.
    if zlib.crc32(case.name.encode()) % 8:
        return findings
    with tempfile.TemporaryDirectory(prefix="graphc-fuzz-cache-") as directory:
        try:
            ctx.stats.compiles += 2
            miss = gc.compile(graph, cache=directory)
            hit = gc.compile(copy, cache=directory)
        except Exception as error:
            return findings + [_crash(ctx, "compile", error)]
        if (miss.stats["cache"], hit.stats["cache"]) != ("miss", "hit"):
            states = (miss.stats["cache"], hit.stats["cache"])
            return findings + [ctx.finding("cache", "state", f"cache states {states}")]
        for p, point in enumerate(case.points):
            args = call_args(case, point)
            try:
                pairs = zip(_as_tuple(miss(*args), graph), _as_tuple(hit(*args), graph))
            except Exception as error:
                return findings + [_crash(ctx, "call", error)]
            for k, (a, b) in enumerate(pairs):
                ctx.stats.comparisons["cache"] += 1
                a, b = np.asarray(a), np.asarray(b)
                if a.dtype != b.dtype or not same_bits(a, b).all():
                    message = f"output {k} at point {p}: {_show(a)} compiled, {_show(b)} cached"
                    return findings + [ctx.finding("cache", "values", message)]
    return findings


def check_arguments(ctx: Context) -> list[Finding]:
    """An int64 scalar argument outside int64: gc.evaluate raises, and compiled calls must too."""
    case = ctx.case
    findings: list[Finding] = []
    positions = [k for k, n in enumerate(case.inputs) if n.dtype == dtypes.INT64 and not n.shape]
    if not positions or not case.points:
        return []
    for value in (2**63 + 5, -(2**63) - 3):
        args = call_args(case, case.points[0])
        args[positions[0]] = value
        try:
            gc.evaluate(ctx.graph, *args)
            continue  # accepted by the reference: nothing to compare
        except (TypeError, ValueError, OverflowError):
            pass
        ctx.stats.comparisons["argument"] += 1
        try:
            result = ctx.fn(*args)
        except (TypeError, ValueError, OverflowError):
            continue
        except Exception as error:
            findings.append(_crash(ctx, "call", error))
            continue
        findings.append(
            ctx.finding(
                "argument",
                "int64",
                f"{case.inputs[positions[0]].name}={value}: gc.evaluate raises, the compiled "
                f"call returns {result!r}",
                "int64_argument_overflow",
            )
        )
    return findings


CHECKS: dict[str, Callable[[Context], list[Finding]]] = {
    "optimize": check_optimize,
    "compile": check_compile,
    "derivatives": check_derivatives,
    "round_trips": check_round_trips,
    "arguments": check_arguments,
}
GROUP_OF = {
    "optimize": "optimize",
    "compile": "compile",
    "vector_math": "compile",
    "fusion": "compile",
    "types": "compile",
    "batch": "compile",
    "dot": "derivatives",
    "fd": "derivatives",
    "rule": "derivatives",
    "argument": "arguments",
    "serialize": "round_trips",
    "cache": "round_trips",
}


def run_checks(case: Case, config: Config, stats: Stats, groups: Sequence[str]) -> list[Finding]:
    ctx = Context(case, config, stats)
    findings: list[Finding] = []
    try:
        ctx.graph  # noqa: B018  (building the graph is a check too)
    except Exception as error:
        return [replace(_crash(ctx, "graph", error), group="optimize")]
    for group in groups:
        if group == "arguments" and "int64_argument_overflow" not in config.include_known:
            continue
        try:
            found = CHECKS[group](ctx)
        except Exception as error:  # a bug of the fuzzer itself must not pass unnoticed
            found = [_crash(ctx, f"fuzzer:{group}", error)]
        for finding in found:
            finding.group = finding.group or group
        findings += found
    return findings


def _group(finding: Finding) -> str:
    """The check group that made ``finding`` (the one to re-run when shrinking it)."""
    return finding.group or GROUP_OF.get(finding.check, "")


# -- shrinking ----------------------------------------------------------------------------------


def _all_nodes(case: Case) -> tuple[Node, ...]:
    roots = list(case.outputs) + [o for d in case.derivs for o in d.outputs]
    return topological_order(roots, case.inputs)


def _substitute(case: Case, old: Node, new: Node, new_values: list | None) -> Case:
    """``case`` with ``old`` replaced by ``new`` (an input with ``new_values`` per point, a
    constant or an existing node), downstream nodes rebuilt, unused inputs dropped."""
    mapping: dict[Node, Node] = {old: new}
    for node in _all_nodes(case):
        if node in mapping or not node.args:
            continue
        args = tuple(mapping.get(a, a) for a in node.args)
        mapping[node] = rebuild(node, args)
    outputs = tuple(mapping.get(o, o) for o in case.outputs)
    derivs = tuple(
        replace(d, outputs=tuple(mapping.get(o, o) for o in d.outputs)) for d in case.derivs
    )
    inputs = list(case.inputs)
    points = [list(p) for p in case.points]
    if new.op == "input" and all(new is not i for i in inputs):
        inputs.append(new)
        for p, value in zip(points, new_values or []):
            p.append(value)
    shrunk = Case(tuple(inputs), outputs, [tuple(p) for p in points], derivs, case.name)
    return _drop_unused_inputs(shrunk)


def _drop_unused_inputs(case: Case) -> Case:
    roots = list(case.outputs) + [o for d in case.derivs for o in d.outputs]
    used = {id(n) for n in topological_order(roots)}
    keep = [k for k, n in enumerate(case.inputs) if id(n) in used]
    derivs = []
    for d in case.derivs:
        pairs = [(w, v) for w, v in zip(d.wrt, d.tangents) if id(w) in used]
        if pairs:
            derivs.append(replace(d, wrt=tuple(w for w, _ in pairs),
                                  tangents=tuple(v for _, v in pairs)))  # fmt: skip
    return Case(
        tuple(case.inputs[k] for k in keep),
        case.outputs,
        [tuple(p[k] for k in keep) for p in case.points],
        tuple(derivs),
        case.name,
    )


class Shrinker:
    """Delta debugging on a case: fewer points, outputs and nodes, same failure."""

    def __init__(self, finding: Finding, config: Config, stats: Stats):
        self.signature = finding.signature
        self.group = _group(finding)
        self.config = config
        self.stats = Stats()  # shrinking's own work is not the run's
        self.deadline = time.monotonic() + config.shrink_seconds
        self.probes = 0
        self.counter = 0

    def fails(self, case: Case) -> bool:
        if time.monotonic() > self.deadline:
            return False
        self.probes += 1
        try:
            findings = run_checks(case, self.config, self.stats, [self.group])
        except Exception:
            return False
        return any(f.signature == self.signature for f in findings)

    def shrink(self, case: Case) -> Case:
        if not self.fails(case):
            return case  # does not reproduce on its own (should not happen: deterministic)
        case = self.fewer_points(case)
        if self.group == "derivatives":
            case = self.fewer_derivs(case)
            case = replace(case, outputs=())
            case = _drop_unused_inputs(case)
        else:
            case = _drop_unused_inputs(replace(case, derivs=()))
            if not self.fails(case):
                return case
            case = self.fewer_outputs(case)
        progress = True
        while progress and time.monotonic() < self.deadline:
            progress = False
            for node in _all_nodes(case):
                if node.op == "input" or (node.op == "const" and node.size <= 1):
                    continue
                smaller = self.replace_node(case, node)
                if smaller is not None:
                    case, progress = smaller, True
                    break
        return case

    def fewer_points(self, case: Case) -> Case:
        for point in case.points:
            candidate = replace(case, points=[point])
            if self.fails(candidate):
                return candidate
        return case

    def fewer_derivs(self, case: Case) -> Case:
        for deriv in case.derivs:
            candidate = _drop_unused_inputs(replace(case, derivs=(deriv,)))
            if self.fails(candidate):
                case = candidate
                break
        if not case.derivs:
            return case
        deriv = case.derivs[0]
        for k in range(len(deriv.outputs) - 1, -1, -1):
            if len(deriv.outputs) <= 1:
                break
            fewer = replace(
                deriv,
                outputs=deriv.outputs[:k] + deriv.outputs[k + 1 :],
                cotangents=deriv.cotangents[:k] + deriv.cotangents[k + 1 :],
                use_grad=False,
            )
            candidate = _drop_unused_inputs(replace(case, derivs=(fewer,)))
            if self.fails(candidate):
                case, deriv = candidate, fewer
        return case

    def fewer_outputs(self, case: Case) -> Case:
        chunk = max(1, len(case.outputs) // 2)
        while chunk >= 1 and len(case.outputs) > 1:
            k = 0
            while k < len(case.outputs) and len(case.outputs) > 1:
                outputs = case.outputs[:k] + case.outputs[k + chunk :]
                candidate = _drop_unused_inputs(replace(case, outputs=outputs)) if outputs else None
                if candidate is not None and self.fails(candidate):
                    case = candidate
                else:
                    k += chunk
            chunk //= 2
        return case

    def replace_node(self, case: Case, node: Node) -> Case | None:
        try:
            envs = [node_values(Graph(list(case.inputs), [node]), p) for p in case.points]
        except Exception:
            return None
        values = [np.asarray(env[node]).astype(node.dtype) for env in envs]
        candidates: list[tuple[Node, list | None]] = []
        if len(values) == 1 and node.op != "const":
            candidates.append((gc.constant(values[0], node.dtype), None))
        for arg in node.args:
            if arg.shape == node.shape and arg.dtype == node.dtype:
                candidates.append((arg, None))
        self.counter += 1
        names = {n.name for n in case.inputs}
        name = f"v{self.counter}"
        while name in names:
            self.counter += 1
            name = f"v{self.counter}"
        candidates.append((gc.tensor(name, node.shape, node.dtype), values))
        for new, new_values in candidates:
            try:
                candidate = _substitute(case, node, new, new_values)
            except Exception:
                continue
            if len(_all_nodes(candidate)) >= len(_all_nodes(case)) and new.op == "input":
                continue  # no simpler
            if self.fails(candidate):
                return candidate
        return None


# -- reproducers --------------------------------------------------------------------------------


def _literal(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return repr(value)


def array_source(array: np.ndarray) -> str:
    array = np.asarray(array)
    if array.ndim == 0:
        return f"np.array({_literal(array.item())}, dtype={str(array.dtype)!r})"
    body = ", ".join(_literal(v) for v in array.reshape(-1).tolist())
    return f"np.array([{body}], dtype={str(array.dtype)!r}).reshape({array.shape})"


_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "matmul": "@"}
_OPERATORS |= {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_OPERATORS |= {"and": "&", "or": "|"}


def graph_source(case: Case, names: dict[Node, str]) -> list[str]:
    """Python lines building the case's nodes (``names`` is filled with variable names)."""
    lines = []
    for node in _all_nodes(case):
        if node in names:
            continue
        if node.op == "input":
            names[node] = node.name  # type: ignore[assignment]
            lines.append(f"{node.name} = gc.tensor({node.name!r}, {node.shape}, {node.dtype!r})")
            continue
        name = f"n{len(names)}"
        names[node] = name
        args = [names[a] for a in node.args]
        if node.op == "const":
            rhs = f"gc.constant({array_source(node.value)})"
        elif node.op in _OPERATORS and not node.attrs:
            rhs = f" {_OPERATORS[node.op]} ".join(args)
        elif node.op == "neg":
            rhs = f"-{args[0]}"
        elif node.op == "not":
            rhs = f"~{args[0]}"
        elif not node.attrs and hasattr(gc, node.op):
            rhs = f"gc.{node.op}({', '.join(args)})"
        else:
            attrs = ", ".join(f"{k}={v!r}" for k, v in sorted(node.attrs.items()))
            rhs = f"make({node.op!r}, ({', '.join(args)},), Attrs({attrs}))"
        lines.append(f"{name} = {rhs}  # {node.type_str}")
    return lines


def reproducer(case: Case, finding: Finding) -> str:
    names: dict[Node, str] = {}
    lines = [
        "import numpy as np",
        "import graphc as gc",
        "from graphc.node import Attrs",
        "from graphc.ops.base import make",
        "",
        "nan, inf = float('nan'), float('inf')",
    ]
    lines += graph_source(case, names)
    inputs = ", ".join(names[n] for n in case.inputs)
    outputs = ", ".join(names[n] for n in case.outputs)
    lines.append(f"g = gc.Graph([{inputs}], [{outputs}])")
    point = case.points[0] if case.points else ()
    lines.append(f"args = [{', '.join(array_source(v) for v in point)}]")
    lines.append("args = [a.item() if a.ndim == 0 and a.dtype != np.float32 else a for a in args]")
    group = _group(finding)
    stage = finding.key.split(":")[0]
    if finding.check == "crash" and stage in ("optimize", "graph", "evaluate"):
        lines += ["print(gc.evaluate(g, *args))", "print(gc.optimize(g))"]
    elif finding.check == "crash" and stage in ("compile", "call", "batch", "process"):
        lines += [
            "fn = gc.compile(g, cache=False, vector_math=False)",
            "print(fn(*args))",
            "print(fn.batch(*[np.asarray(a)[None] for a in args]))",
        ]
    elif finding.check == "optimize":
        lines += [
            "print(gc.optimize(g))",
            "print(gc.evaluate(g, *args))  # the reference",
            "print(gc.evaluate(gc.optimize(g), *args))  # should agree (see the message)",
        ]
    elif group == "compile":
        vector = finding.check == "vector_math"
        lines += [
            "opt = gc.optimize(g)",
            "every = gc.Graph(list(opt.inputs), [n for n in opt.nodes if n.op != 'input'])",
            "print(every)",
            f"fx = gc.compile(every, optimize=False, cache=False, vector_math={vector})",
            "print(fx(*args))  # nothing fused",
            "print(gc.evaluate(every, *args))  # the reference",
            "fn = gc.compile(g, cache=False, vector_math=False)",
            "print(fn(*args))",
        ]
        if finding.check == "batch":
            lines.append("print(fn.batch(*[np.asarray(a)[None] for a in args]))")
    elif group == "derivatives":
        for deriv in case.derivs:
            outs = ", ".join(names[o] for o in deriv.outputs)
            wrt = ", ".join(names[w] for w in deriv.wrt)
            us = ", ".join(array_source(u) for u in deriv.cotangents)
            vs = ", ".join(array_source(v) for v in deriv.tangents)
            lines += [
                f"F, W = [{outs}], [{wrt}]",
                f"U, V = [{us}], [{vs}]",
                "vj = gc.vjp(F, W, [gc.constant(u) for u in U])",
                "jv = gc.jvp(F, W, [gc.constant(v) for v in V])",
                "print(gc.evaluate(gc.Graph(list(g.inputs), vj + jv), *args))",
                "# the derivative of sum_k <U_k, F_k> along V, by central differences:",
                "f = gc.Graph(list(g.inputs), F)",
                "shift = {w.name: v for w, v in zip(W, V)}",
                "def s(t):",
                "    moved = [a + t * shift[x.name] if x.name in shift else a"
                " for x, a in zip(g.inputs, args)]",
                "    outs = gc.evaluate(f, *moved)",
                "    return sum(float(np.sum(np.asarray(u, float) * np.asarray(o, float)))"
                " for u, o in zip(U, outs))",
                "print((s(1e-6) - s(-1e-6)) / 2e-6)",
            ]
    else:
        lines += ["fn = gc.compile(g, cache=False, vector_math=False)", "print(fn(*args))"]
    lines.append(f"# {finding.check} [{finding.key}]: {finding.message}")
    return "\n".join(lines)


# -- running ------------------------------------------------------------------------------------


@dataclass
class Report:
    stats: Stats
    findings: list[Finding]  # one per signature (the first, shrunk), with counts below
    counts: Counter
    config: Config
    wall: float = 0.0  # seconds, shrinking and process starts included

    def failures(self) -> list[Finding]:
        """Findings not explained by a known bug that the run leaves out."""
        return [f for f in self.findings if f.known is None or f.known in self.config.include_known]

    def summary(self) -> str:
        s = self.stats
        lines = [
            f"graphc.fuzz seed {self.config.seed}: {s.cases} cases, {s.nodes} nodes, "
            f"{s.compiles} compiles, {s.seconds:.0f} s in cases, {self.wall:.0f} s in all",
            f"ops built: {len([o for o in s.ops if not o.startswith('dsl:')])} of "
            f"{len([o for o, d in OPS.items() if d.kind not in ('input', 'const')])} ops, "
            f"{sum(s.ops.values())} nodes by the generator",
            "comparisons: " + ", ".join(f"{k} {v}" for k, v in sorted(s.comparisons.items())),
            "skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(s.skipped.items())),
        ]
        missing = [
            o for o, d in OPS.items() if d.kind not in ("input", "const") and not s.ops.get(o)
        ]
        if missing:
            lines.append(f"ops never built: {', '.join(missing)}")
        failures = self.failures()
        lines.append(
            f"findings: {len(self.findings)} distinct ({sum(self.counts.values())} in all), "
            f"{len(failures)} not explained by a known bug left out of the run"
        )
        for finding in self.findings:
            count = self.counts[finding.signature]
            label = f" [known: {finding.known}]" if finding.known else " [NEW]"
            lines.append(
                f"- {finding.check} [{finding.key}]{label} x{count}, first in case "
                f"{finding.case}: {finding.message}"
            )
        return "\n".join(lines)

    def details(self) -> str:
        parts = [self.summary(), ""]
        for finding in self.findings:
            parts.append(f"### {finding.check} [{finding.key}] (case {finding.case})")
            parts.append(finding.reproducer or "(no reproducer)")
            parts.append("")
        return "\n".join(parts)


def run_case(
    config: Config, index: int, stats: Stats, seen: Counter, emit: Callable[[Finding], None]
) -> None:
    """Generate, check and (for new signatures) shrink case ``index``."""
    began = time.monotonic()
    case, findings = generate(config, index, stats)
    stats.cases += 1
    try:
        stats.nodes += len(case.graph().nodes)
    except Exception:
        pass
    findings += run_checks(case, config, stats, list(CHECKS))
    stats.seconds += time.monotonic() - began
    for finding in findings:
        first = seen[finding.signature] < config.shrinks_per_signature
        seen[finding.signature] += 1
        if first and not finding.reproducer:
            # Derivative checks run on the float64 version of a case: shrink and print that one.
            shrunk = promote_case(case) if _group(finding) == "derivatives" else case
            if config.shrink and _group(finding) in CHECKS:
                with contextlib.suppress(Exception):
                    shrunk = Shrinker(finding, config, stats).shrink(shrunk)
            # The message of the shrunk case, when it still fails the same way.
            again = [
                f
                for f in run_checks(shrunk, config, Stats(), [_group(finding)])
                if f.signature == finding.signature
            ]
            if again:
                finding.message = again[0].message
            finding.reproducer = reproducer(shrunk, finding)
        emit(finding if first else replace(finding, reproducer=""))


def run(config: Config, log: Callable[[str], None] | None = None) -> Report:
    """Run cases in this process until ``config.seconds`` or ``config.max_cases``."""
    stats = Stats()
    seen: Counter = Counter()
    findings: list[Finding] = []
    start = time.monotonic()
    index = config.first_case

    def emit(finding: Finding) -> None:
        if finding.reproducer or not any(f.signature == finding.signature for f in findings):
            if not any(f.signature == finding.signature for f in findings):
                findings.append(finding)
                if log:
                    known = f" [known: {finding.known}]" if finding.known else " [NEW]"
                    log(f"finding {finding.check} [{finding.key}]{known}: {finding.message}")

    while True:
        if config.max_cases is not None and index - config.first_case >= config.max_cases:
            break
        if config.max_cases is None and time.monotonic() - start >= config.seconds:
            break
        run_case(config, index, stats, seen, emit)
        index += 1
        if log and config.verbose:
            log(f"case {index - 1} done ({stats.cases} cases, {stats.compiles} compiles)")
    return Report(stats, findings, seen, config, time.monotonic() - start)


# -- the command line: a worker process per batch of cases, so a native crash is a finding -----


def _worker(config: Config) -> None:
    out = sys.stdout

    def send(event: dict) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    stats = Stats()
    seen: Counter = Counter()
    start = time.monotonic()
    index = config.first_case
    while time.monotonic() - start < config.seconds and (
        config.max_cases is None or index - config.first_case < config.max_cases
    ):
        send({"event": "case", "index": index})
        run_case(config, index, stats, seen, lambda f: send({"event": "finding", **f.to_json()}))
        index += 1
        send({"event": "stats", "stats": stats.to_json()})
    send({"event": "done"})


def _parse(argv: Sequence[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m graphc.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=None, help="stop after this many cases")
    parser.add_argument("--first-case", type=int, default=0)
    parser.add_argument("--max-ops", type=int, default=30)
    parser.add_argument(
        "--include-known",
        default="",
        help=f"known bugs to trigger and fail on, comma-separated, or all: {', '.join(KNOWN_BUGS)}",
    )
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument("--shrink-seconds", type=float, default=60.0)
    parser.add_argument("--in-process", action="store_true", help="no worker process")
    parser.add_argument("--report", default=None, help="write the findings with reproducers here")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    include = set(KNOWN_BUGS) if args.include_known == "all" else set()
    if args.include_known and args.include_known != "all":
        include = {name.strip() for name in args.include_known.split(",") if name.strip()}
        unknown = include - set(KNOWN_BUGS)
        if unknown:
            parser.error(f"unknown known-bug names {sorted(unknown)}; known: {list(KNOWN_BUGS)}")
    config = Config(
        seed=args.seed,
        seconds=args.seconds,
        max_cases=args.cases,
        first_case=args.first_case,
        max_ops=max(args.max_ops, 8),
        include_known=frozenset(include),
        shrink=not args.no_shrink,
        shrink_seconds=args.shrink_seconds,
        verbose=args.verbose,
    )
    return config, args


def _worker_command(config: Config, index: int, seconds: float, cases: int | None) -> list[str]:
    command = [sys.executable, "-m", "graphc.fuzz", "--worker", "--seed", str(config.seed)]
    command += ["--first-case", str(index), "--seconds", str(seconds)]
    command += ["--max-ops", str(config.max_ops), "--shrink-seconds", str(config.shrink_seconds)]
    if cases is not None:
        command += ["--cases", str(cases)]
    if config.include_known:
        command += ["--include-known", ",".join(sorted(config.include_known))]
    if not config.shrink:
        command.append("--no-shrink")
    return command


def supervise(config: Config, log: Callable[[str], None]) -> Report:
    """Run workers until the time is up; a worker that dies is a crash finding for its case."""
    stats = Stats()
    seen: Counter = Counter()
    findings: list[Finding] = []
    start = time.monotonic()
    index = config.first_case
    while True:
        remaining = config.seconds - (time.monotonic() - start)
        done = 0 if config.max_cases is None else index - config.first_case
        if remaining <= 0 or (config.max_cases is not None and done >= config.max_cases):
            break
        cases = None if config.max_cases is None else config.max_cases - done
        with tempfile.TemporaryFile("w+") as errors:  # a file: a full pipe would block
            process = subprocess.Popen(
                _worker_command(config, index, remaining, cases),
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
            current, started, worker_stats, finished = index, False, Stats(), False
            assert process.stdout is not None
            for line in process.stdout:
                event = json.loads(line)
                if event["event"] == "case":
                    current, started = event["index"], True
                elif event["event"] == "finding":
                    finding = Finding(**{k: event[k] for k in Finding.__dataclass_fields__})
                    seen[finding.signature] += 1
                    if not any(f.signature == finding.signature for f in findings):
                        findings.append(finding)
                        known = f" [known: {finding.known}]" if finding.known else " [NEW]"
                        log(f"finding {finding.check} [{finding.key}]{known}: {finding.message}")
                elif event["event"] == "stats":
                    worker_stats = Stats.from_json(event["stats"])
                    if config.verbose:
                        log(f"case {current} done")
                elif event["event"] == "done":
                    finished = True
            code = process.wait()
            errors.seek(0)
            stderr = errors.read()
        stats.merge(worker_stats)
        if finished:
            break
        if not started:
            raise RuntimeError(f"the fuzzer's worker failed to start (exit code {code}):\n{stderr}")
        # The worker died inside case `current`: report it, skip the case, start a new worker.
        finding = Finding(
            "crash",
            f"process:{code}",
            f"the worker died (exit code {code}) in case {config.seed}/{current}; "
            f"stderr: {stderr.strip()[-500:]}",
            case=f"{config.seed}/{current}",
        )
        with contextlib.suppress(Exception):
            case, _ = generate(config, current, Stats())
            finding.reproducer = reproducer(case, finding)
        seen[finding.signature] += 1
        if not any(f.signature == finding.signature for f in findings):
            findings.append(finding)
        log(f"finding crash [{finding.key}]: {finding.message}")
        index = current + 1
    return Report(stats, findings, seen, config, time.monotonic() - start)


def main(argv: Sequence[str] | None = None) -> int:
    config, args = _parse(argv)
    if args.worker:
        _worker(config)
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = run(config, log) if args.in_process else supervise(config, log)
    print(report.summary())
    if args.report:
        with open(args.report, "w") as handle:
            handle.write(report.details())
        print(f"reproducers written to {args.report}")
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
