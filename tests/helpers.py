"""Shared helpers of the core test suite.

- :func:`outputs`: a graph's values as a list of numpy arrays, whatever ``gc.evaluate`` returns.
- :func:`random_array`: inputs drawn from an op's domain (``"real"``, ``"positive"``, ...).
- :func:`numeric_vjp` and :func:`numeric_jvp`: central finite differences, the oracle for
  derivatives.
- :func:`random_graphs`: a hypothesis strategy building random graphs from a mix of ops (with
  broadcasting, reductions, shape ops, the constants the simplifier looks for, and optionally
  the graph's own gradient), together with input values that sometimes hold nan, inf and -0.0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import strategies as st

import graphc as gc

# -- evaluating -------------------------------------------------------------------------------


def outputs(graph: gc.Graph, *args: object) -> list[np.ndarray]:
    """Every output of ``graph`` for ``args``, as numpy arrays (dtype kept)."""
    result = gc.evaluate(graph, *args)
    if graph.single_output:
        result = (result,)
    return [np.asarray(r) for r in result]


def function_of(inputs: Sequence[gc.Node], output: gc.Node) -> Callable[..., np.ndarray]:
    """``output`` as a numpy function of ``inputs`` (through the reference evaluator)."""
    graph = gc.Graph(list(inputs), [output])
    return lambda *args: outputs(graph, *args)[0]


def assert_same_values(got: Sequence, want: Sequence, rtol: float = 1e-12, atol: float = 0.0):
    """Outputs agree pairwise in shape, dtype and value, nan where nan."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


def assert_bitwise_equal(got: np.ndarray, want: np.ndarray) -> None:
    """Equal bit patterns: tells -0.0 from 0.0 (and compares nan payloads)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), f"{got!r} != {want!r}"


# -- random inputs ----------------------------------------------------------------------------

DOMAINS = ("real", "positive", "nonzero", "unit", "small", "distinct", "int", "bool")


def random_array(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: str, domain: str, salt: int = 0
) -> np.ndarray:
    """Random values of ``shape`` from ``domain``, chosen so finite differences are reliable:

    - ``real``: standard normal; ``positive``: [0.5, 2]; ``nonzero``: +-[0.5, 2] (away from 0);
      ``unit``: (-0.9, 0.9); ``small``: (-1.2, 1.2) (inside tan's branch);
    - ``distinct``: multiples of 0.37 shifted by ``0.11 * salt``: elements of one array differ
      by at least 0.37 and elements of two arrays with different salts by at least 0.11, so
      max/min/maximum/minimum have no ties within a finite-difference step;
    - ``int`` (int64 in [-3, 3]) and ``bool`` ignore ``dtype``.
    """
    n = int(np.prod(shape))
    if domain == "real":
        values = rng.standard_normal(shape)
    elif domain == "positive":
        values = rng.uniform(0.5, 2.0, shape)
    elif domain == "nonzero":
        values = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif domain == "unit":
        values = rng.uniform(-0.9, 0.9, shape)
    elif domain == "small":
        values = rng.uniform(-1.2, 1.2, shape)
    elif domain == "distinct":
        values = ((rng.permutation(n) - n // 2) * 0.37 + 0.11 * salt).reshape(shape)
    elif domain == "int":
        return rng.integers(-3, 4, shape).astype(np.int64)
    elif domain == "bool":
        return rng.random(shape) < 0.5
    else:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    return np.asarray(values, dtype=dtype)


# -- finite differences -----------------------------------------------------------------------


def _step(value: float, h: float) -> float:
    return h * max(1.0, abs(value))


def numeric_vjp(
    f: Callable[..., np.ndarray],
    args: Sequence[np.ndarray],
    cotangent: np.ndarray,
    wrt: Sequence[int],
    h: float = 1e-6,
) -> list[np.ndarray]:
    """Central differences of ``<cotangent, f(*args)>`` with respect to ``args[i]``, i in wrt.

    ``f`` takes and returns numpy arrays; the arguments are perturbed one element at a time in
    float64 (relative step ``h`` for large elements), so the error is O(h^2) + O(eps / h).
    """
    args = [np.array(a, dtype=np.float64 if a.dtype.kind == "f" else a.dtype) for a in args]
    cotangent = np.asarray(cotangent, dtype=np.float64)

    def scalar(values: list[np.ndarray]) -> float:
        return float(np.sum(cotangent * np.asarray(f(*values), dtype=np.float64)))

    result = []
    for i in wrt:
        grad = np.zeros(args[i].shape)
        flat = args[i].reshape(-1)
        for j in range(flat.size):
            original = flat[j]
            step = _step(original, h)
            flat[j] = original + step
            up = scalar(args)
            flat[j] = original - step
            down = scalar(args)
            flat[j] = original
            grad.reshape(-1)[j] = (up - down) / (2 * step)
        result.append(grad)
    return result


def numeric_jvp(
    f: Callable[..., np.ndarray],
    args: Sequence[np.ndarray],
    tangents: Sequence[np.ndarray | None],
    h: float = 1e-6,
) -> np.ndarray:
    """Central difference of ``f`` along ``tangents`` (one per argument; None keeps it fixed)."""
    args = [np.asarray(a, dtype=np.float64) if a.dtype.kind == "f" else a for a in args]
    scale = max([1.0] + [float(np.max(np.abs(a))) for a in args if a.dtype.kind == "f"])
    step = h * scale

    def moved(sign: float) -> list[np.ndarray]:
        return [a if t is None else a + sign * step * t for a, t in zip(args, tangents)]

    up = np.asarray(f(*moved(1.0)), dtype=np.float64)
    down = np.asarray(f(*moved(-1.0)), dtype=np.float64)
    return (up - down) / (2 * step)


# -- random graphs ----------------------------------------------------------------------------

# The constants the simplifier has rules for (and a few it has none for), signed zero and nan.
CONSTANTS = (0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 0.25, 3.0, -2.5, float("nan"), float("inf"))
SPECIAL_VALUES = (0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1.0, -1.0)

UNARY = (
    "neg",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "softplus",
    "abs",
    "sign",
    "square",
    "pow_const",
)
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "where_cmp", "add_const", "mul_const")
OTHER = ("reduce", "shape", "matmul", "const_left")
ALL_OPS = UNARY + BINARY + OTHER
# No log and no exp: graphs on which the `stabilize` pass has nothing to rewrite, so the whole
# pipeline must keep their values (stabilize changes values, towards the exact ones, by design).
STABLE_OPS = tuple(op for op in ALL_OPS if op not in ("log", "exp"))

_BINARY_FN = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": gc.maximum,
    "minimum": gc.minimum,
    "where_cmp": lambda a, b: gc.where(a > b, a, b * 2.0),
}


def _unary(name: str, x: gc.Node, draw) -> gc.Node:
    if name == "square":
        return x**2
    if name == "pow_const":
        return x ** draw(st.sampled_from([0.0, 1.0, 2.0, -1.0, 0.5, 3.0]))
    if name == "neg":
        return -x
    return getattr(gc, name)(x)


def _shape_op(x: gc.Node, draw) -> gc.Node:
    choice = draw(st.integers(0, 4))
    if x.ndim == 0:
        return gc.broadcast_to(x, (3,)) if choice % 2 else gc.reshape(x, (1, 1))
    if choice == 0:
        return x.reshape(-1) if x.ndim > 1 else x[::-1]
    if choice == 1:
        return x.T if x.ndim == 2 else x[None, :]
    if choice == 2:
        return x[..., 1:] if x.shape[-1] > 1 else x[..., 0]
    if choice == 3:
        return gc.concatenate([x, -x], axis=-1)
    return gc.broadcast_to(x, (2,) + x.shape) if x.ndim == 1 else x[1]


def _reduce(x: gc.Node, draw) -> gc.Node:
    fn = draw(st.sampled_from(["sum", "max", "min", "prod", "mean", "logsumexp"]))
    axis = None if x.ndim == 0 else draw(st.sampled_from([None, -1, 0]))
    keepdims = draw(st.booleans())
    return getattr(gc, fn)(x, axis=axis, keepdims=keepdims)


@st.composite
def random_graphs(
    draw,
    ops: Sequence[str] = ALL_OPS,
    max_steps: int = 10,
    grad: bool | None = None,
    specials: bool | None = None,
):
    """``(graph, args)``: a random graph over inputs ``s: f64[]``, ``a: f64[3]``, ``b: f64[2,3]``
    and one set of input values for it.

    Each step applies an op from ``ops`` to operands drawn from everything built so far; shapes
    that do not combine are skipped. The outputs are the last node and a few random ones; with
    ``grad`` (drawn when None) the gradient of the sum of the last node is appended, so adjoint
    graphs (full of ``*1``, negations and broadcasts) go through the passes too. With
    ``specials`` (drawn when None) about 30% of the input values are nan, +-inf, +-0.0 or +-1.
    """
    s, a, b = gc.scalar("s"), gc.vector("a", 3), gc.matrix("b", 2, 3)
    pool: list[gc.Node] = [s, a, b]
    # Families first, so reductions, shape ops and matmul are as likely as any unary op.
    families = [f for f in (UNARY, BINARY, OTHER) if any(op in ops for op in f)]
    steps = draw(st.integers(2, max_steps))
    for _ in range(steps):
        family = draw(st.sampled_from(families))
        op = draw(st.sampled_from([op for op in family if op in ops]))
        # Usually build on the latest node, so graphs grow deep rather than wide.
        latest = draw(st.booleans())
        x = pool[-1] if latest else pool[draw(st.integers(0, len(pool) - 1))]
        y = pool[draw(st.integers(0, len(pool) - 1))]
        c = draw(st.sampled_from(CONSTANTS))
        try:
            if op in UNARY:
                new = _unary(op, x, draw)
            elif op in _BINARY_FN:
                new = _BINARY_FN[op](x, y)
            elif op == "add_const":
                new = x + c
            elif op == "mul_const":
                new = x * c
            elif op == "const_left":
                kind = draw(st.sampled_from(["sub", "div", "mul"]))
                new = _BINARY_FN[kind](gc.constant(c), x) if x.dtype == "float64" else c * x
            elif op == "reduce":
                new = _reduce(x, draw)
            elif op == "shape":
                new = _shape_op(x, draw)
            else:  # matmul
                new = x @ y
        except (ValueError, IndexError):  # shapes that do not fit together: skip the step
            continue
        pool.append(new)
    last = pool[-1]
    extra = draw(st.lists(st.integers(0, len(pool) - 1), max_size=2))
    outs = [last] + [pool[i] for i in extra]
    with_grad = draw(st.booleans()) if grad is None else grad
    if with_grad and last.dtype in ("float64", "float32"):
        outs += gc.grad(gc.sum(last), [s, a, b])
    graph = gc.Graph([s, a, b], outs)

    seed = draw(st.integers(0, 2**32 - 1))
    with_specials = draw(st.booleans()) if specials is None else specials
    rng = np.random.default_rng(seed)
    args = []
    for node in (s, a, b):
        value = rng.uniform(-2.0, 2.0, node.shape)
        if with_specials:
            mask = rng.random(node.shape) < 0.3
            value = np.where(mask, rng.choice(SPECIAL_VALUES, node.shape), value)
        args.append(np.asarray(value, dtype=np.float64))
    return graph, args


def block_model(n: int, d: int, K: int, seed: int = 0):
    """The compile-time issue's model: K blocks of matrix work on an (n, d) data constant,
    ``loss = sum(logsumexp(stack([sum(Y_k * Y_k, 1)], 1), 1))`` with ``Y_k = Z exp(q_k) +
    Z L_k^T``, ``Z = X - mu_k`` (benchmarks/problems/blocks.py times the same model). Returns
    the inputs (mu, q, L), the loss and parameter values drawn small (0.1 standard normal)."""
    rng = np.random.default_rng(seed)
    X = gc.constant(rng.standard_normal((n, d)))
    mu, q, L = gc.matrix("mu", (K, d)), gc.vector("q", K), gc.tensor("L", (K, d, d))
    terms = []
    for k in range(K):
        Z = X - mu[k]
        Y = Z * gc.exp(q[k]) + Z @ L[k].T
        terms.append(gc.sum(Y * Y, axis=1))
    loss = gc.sum(gc.logsumexp(gc.stack(terms, axis=1), axis=1))
    values = (
        rng.standard_normal((K, d)) * 0.1,
        rng.standard_normal(K) * 0.1,
        rng.standard_normal((K, d, d)) * 0.1,
    )
    return (mu, q, L), loss, values
