"""``gc.scan``: values against numpy loops, derivatives of every kind against the unrolled graph,
checkpointing, nesting, the passes over loops, native code, and the errors of bad bodies.

The oracle for a scan is the same step function applied in a Python loop (``unrolled``): the
graph it builds has the same operations in the same order, so values and derivatives agree to
rounding (bitwise, mostly) and derivatives are checked on every path: reverse, forward, second
order, through nested loops, with every checkpointing policy, evaluated and compiled.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import outputs

import graphc as gc
import passes
from graphc import serialize
from graphc.loops import make_scan, normalize
from graphc.revolve import actions, beta, repetitions
from graphc.subgraph import placeholder

RNG = np.random.default_rng(7)


def unrolled(step, init, xs=None, length=None, reverse=False):
    """What ``gc.scan`` computes, as a Python loop over graph nodes."""
    steps = length if xs is None else (xs[0] if isinstance(xs, tuple) else xs).shape[0]
    carry, ys = init, [None] * steps
    for t in reversed(range(steps)) if reverse else range(steps):
        row = None if xs is None else tuple(x[t] for x in xs) if isinstance(xs, tuple) else xs[t]
        carry, ys[t] = step(carry, row)
    return carry, ys


def close(got, want, rtol=1e-12, atol=1e-14):
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {k}")


# -- values ---------------------------------------------------------------------------------------


def test_values_match_a_numpy_loop_with_several_carries_and_outputs():
    T = 6
    a, b = gc.vector("a", 3), gc.scalar("b")
    xs, zs = gc.matrix("xs", (T, 3)), gc.vector("zs", T)
    w = gc.vector("w", 3)

    def step(carry, row):
        (u, (v,)), (x, z) = carry, row
        u2 = gc.sin(u) * x + w * v
        return (u2, (v * 0.9 + z,)), (gc.sum(u2), None, u2 * z)

    (u, (v,)), (s, none, m) = gc.scan(step, (a, (b,)), (xs, zs))
    assert none is None and s.shape == (T,) and m.shape == (T, 3)
    graph = gc.Graph([a, b, xs, zs, w], [u, v, s, m])
    args = [RNG.standard_normal(3), 0.5, RNG.standard_normal((T, 3)), RNG.standard_normal(T)]
    args.append(RNG.standard_normal(3))
    a0, b0, X, Z, W = args
    S, M = np.zeros(T), np.zeros((T, 3))
    for t in range(T):
        a0, b0 = np.sin(a0) * X[t] + W * b0, b0 * 0.9 + Z[t]
        S[t], M[t] = np.sum(a0), a0 * Z[t]
    want = [a0, b0, S, M]
    close(outputs(graph, *args), want, rtol=1e-14)
    close(gc.compile(graph)(*args), want, rtol=1e-14)


def test_reverse_length_only_and_empty_scans():
    x = gc.vector("x", 2)
    last, ys = gc.scan(lambda c, _: (c * 2.0 + 1.0, c), x, length=4, reverse=True)
    rev, _ = gc.scan(
        lambda c, r: (c + r, None), x, gc.constant(np.arange(6.0).reshape(3, 2)), reverse=True
    )
    empty, none_ys = gc.scan(lambda c, _: (c * 2.0, c), x, length=0)
    graph = gc.Graph([x], [last, ys, rev, empty, none_ys])
    x0 = np.array([1.0, -2.0])
    want_ys = np.array([x0 * 2**k + (2**k - 1) for k in (3, 2, 1, 0)])  # row t: entering step t
    want = [x0 * 16 + 15, want_ys, x0 + [6, 9], x0, np.zeros((0, 2))]
    close(outputs(graph, x0), want)
    close(gc.compile(graph)(x0), want)


def test_float32_and_integer_carries_keep_their_dtypes():
    x = gc.vector("x", 3, "float32")
    k = gc.scalar("k", "int64")
    last, ys = gc.scan(lambda c, _: (gc.tanh(c * 1.5), c[0]), x, length=5)
    count, fib = gc.scan(lambda c, _: ((c[1], c[0] + c[1]), c[0]), (k, k + 1), length=10)
    graph = gc.Graph([x, k], [last, ys, count[0], fib])
    x0 = np.array([0.1, -0.4, 0.8], np.float32)
    got = gc.compile(graph)(x0, 1)
    want = outputs(graph, x0, 1)
    assert got[0].dtype == np.float32 and got[1].dtype == np.float32
    ref = x0
    for _ in range(5):
        ref = np.tanh(ref * np.float32(1.5))
    np.testing.assert_allclose(got[0], ref, rtol=1e-6)
    assert got[2] == 144 and list(got[3]) == [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    close(got, want, rtol=1e-6)


def test_mixed_float32_and_float64_results_travel_as_float64_exactly():
    x, y = gc.scalar("x", "float32"), gc.scalar("y")
    (a, b), _ = gc.scan(lambda c, _: ((c[0] * 3, c[1] + c[0]), None), (x, y), length=3)
    assert a.dtype == "float32" and b.dtype == "float64"
    got = gc.compile(gc.Graph([x, y], [a, b]))(np.float32(0.1), 1.0)
    u, v = np.float32(0.1), 1.0
    for _ in range(3):
        u, v = u * np.float32(3), v + float(u)
    assert got[0].dtype == np.float32 and got[0] == u and got[1] == v


def test_nested_scans_match_nested_loops():
    x, w = gc.vector("x", 2), gc.scalar("w")

    def inner(c, _):
        return gc.sin(c) * w + 0.5, gc.sum(c)

    def outer(c, _):
        c2, sums = gc.scan(inner, c, length=3)
        return c2 + gc.sum(sums), sums

    last, table = gc.scan(outer, x, length=4)
    want_last, rows = unrolled(lambda c, _: _outer_numpy(c, 0.7), np.array([0.3, -1.0]), length=4)
    graph = gc.Graph([x, w], [last, table])
    got = outputs(graph, np.array([0.3, -1.0]), 0.7)
    close(got, [want_last, np.stack(rows)], rtol=1e-14)
    close(gc.compile(graph)(np.array([0.3, -1.0]), 0.7), got, rtol=1e-14)


def _outer_numpy(c, w):
    sums = []
    for _ in range(3):
        sums.append(np.sum(c))
        c = np.sin(c) * w + 0.5
    return c + np.sum(sums), np.array(sums)


# -- derivatives against the unrolled graph ------------------------------------------------------


def rnn_parts(T=5, n=3, d=2, checkpoint=None, memory=None):
    W, U = gc.matrix("W", (n, n)), gc.matrix("U", (n, d))
    h0, xs = gc.vector("h0", n), gc.matrix("xs", (T, d))

    def step(h, x):
        h = gc.tanh(W @ h + U @ x)
        return h, gc.sum(h * x[0])

    looped = gc.scan(step, h0, xs, checkpoint=checkpoint, memory=memory)
    hT, ys = unrolled(step, h0, xs)
    manual = (hT, gc.stack(ys))
    args = [
        RNG.standard_normal((n, n)) * 0.6,
        RNG.standard_normal((n, d)),
        RNG.standard_normal(n),
        RNG.standard_normal((T, d)),
    ]
    return [W, U, h0, xs], looped, manual, args


@pytest.mark.parametrize(
    "checkpoint, memory",
    [(None, None), (2, None), (3, None), (7, None), ("binomial", None), (None, 24), (None, 48)],
)
def test_gradient_matches_unrolled_for_every_checkpointing_policy(checkpoint, memory):
    inputs, (hT, ys), (rT, rys), args = rnn_parts(T=7, checkpoint=checkpoint, memory=memory)
    loss = gc.sum(hT * hT) + gc.sum(ys * gc.constant(np.arange(7.0)))
    ref = gc.sum(rT * rT) + gc.sum(rys * gc.constant(np.arange(7.0)))
    graph = gc.Graph(inputs, [loss, *gc.grad(loss, inputs)])
    want = outputs(gc.Graph(inputs, [ref, *gc.grad(ref, inputs)]), *args)
    close(outputs(graph, *args), want)
    close(gc.compile(graph)(*args), want)


def test_forward_mode_hessian_and_second_order_reverse_through_a_loop():
    x, v = gc.vector("x", 2), gc.vector("v", 2)
    w = gc.scalar("w")

    def step(c, _):
        return gc.sin(c) * w + gc.sum(c * c) * 0.1, c[0] * c[1]

    def loss_of(last, ys):
        return gc.sum(last**2) + gc.sum(ys)

    last, ys = gc.scan(step, x, length=5)
    f = loss_of(last, ys)
    r_last, r_ys = unrolled(step, x, length=5)
    f_ref = loss_of(r_last, gc.stack(r_ys))

    def derived(f_, last_):
        (jv,) = gc.jvp([f_], [x, w], [v, 0.3])
        g = gc.grad(f_, [x, w])
        gg = gc.grad(gc.sum(g[0] * v) + g[1], [x, w])  # reverse over reverse
        jacobians = [gc.jacobian(last_, x, "fwd"), gc.jacobian(last_, x, "rev")]
        return [jv, *g, gc.hvp(f_, x, v), gc.hessian(f_, x), *jacobians, *gg]

    graph = gc.Graph([x, v, w], derived(f, last))
    ref = gc.Graph([x, v, w], derived(f_ref, r_last))
    args = [np.array([0.3, -0.6]), np.array([1.0, 0.5]), 0.8]
    want = outputs(ref, *args)
    close(outputs(graph, *args), want, rtol=1e-11)
    close(gc.compile(graph)(*args), want, rtol=1e-11)


def test_gradient_through_nested_loops_and_a_reverse_scan():
    x, w = gc.vector("x", 2), gc.scalar("w")

    def inner(c, _):
        return gc.sin(c) * w, None

    def outer(c, row):
        c2, _ = gc.scan(inner, c * row, length=3, checkpoint=2)
        return c2 + 0.1, gc.sum(c2)

    xs = gc.constant(np.array([[1.0, 0.5], [0.9, 1.1], [1.2, 0.8]]))
    last, ys = gc.scan(outer, x, xs, reverse=True)
    ref_last, ref_ys = unrolled(lambda c, r: _outer_unrolled(c, r, w), x, xs, reverse=True)
    f, f_ref = gc.sum(last) + gc.sum(ys * ys), gc.sum(ref_last) + gc.sum(gc.stack(ref_ys) ** 2)
    graph = gc.Graph([x, w], [f, *gc.grad(f, [x, w])])
    want = outputs(gc.Graph([x, w], [f_ref, *gc.grad(f_ref, [x, w])]), np.array([0.4, -0.2]), 1.3)
    close(outputs(graph, np.array([0.4, -0.2]), 1.3), want)
    close(gc.compile(graph)(np.array([0.4, -0.2]), 1.3), want)


def _outer_unrolled(c, row, w):
    c = c * row
    for _ in range(3):
        c = gc.sin(c) * w
    return c + 0.1, gc.sum(c)


def test_derivatives_in_float32():
    x = gc.vector("x", 3, "float32")
    last, _ = gc.scan(lambda c, _: (gc.tanh(c * 1.2 + 0.1), None), x, length=6)
    f = gc.sum(last * last)
    g = gc.grad(f, x)
    assert g.dtype == "float32"
    x0 = np.array([0.2, -0.5, 0.9], np.float32)
    got = gc.compile(gc.Graph([x], g))(x0)
    x64 = gc.vector("x", 3)
    last64, _ = gc.scan(lambda c, _: (gc.tanh(c * 1.2 + 0.1), None), x64, length=6)
    want = outputs(gc.Graph([x64], gc.grad(gc.sum(last64 * last64), x64)), x0.astype(float))[0]
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_integer_stacked_inputs_and_unused_inputs_get_zero_derivatives():
    x, k = gc.vector("x", 2), gc.tensor("k", (4,), "int64")
    last, _ = gc.scan(lambda c, i: (c * gc.astype(i, "float64") + 1.0, None), x, k)
    other = gc.scalar("other")
    gx, gk, go = gc.grad(gc.sum(last), [x, k, other])
    got = outputs(gc.Graph([x, k, other], [gx, gk, go]), np.ones(2), np.array([1, 2, 3, 4]), 1.0)
    close(got, [np.full(2, 24.0), np.zeros(4), 0.0])


def test_vmap_batches_a_loop_without_unrolling_the_batch():
    w = gc.vector("w", 2)

    def per_row(x, xs_row):
        last, ys = gc.scan(lambda c, r: (gc.tanh(c * w + r), gc.sum(c)), x, xs_row)
        return gc.sum(last) + gc.sum(ys * ys)

    X, XS = gc.matrix("X", (4, 2)), gc.tensor("XS", (4, 3, 2))
    batched = gc.vmap(per_row)(X, XS)
    grads = gc.vmap(lambda x, r: gc.grad(per_row(x, r), x))(X, XS)
    graph = gc.Graph([X, XS, w], [batched, grads])
    # The loops of one row (the value; and for the gradient, the value, the value storing
    # carries and the reverse loop), each batched once: not one per row.
    assert graph.op_counts()["scan"] == 4
    args = [RNG.standard_normal((4, 2)), RNG.standard_normal((4, 3, 2)), np.array([0.7, -1.2])]
    x1, r1 = gc.vector("x1", 2), gc.matrix("r1", (3, 2))
    single = gc.Graph([x1, r1, w], [per_row(x1, r1), gc.grad(per_row(x1, r1), x1)])
    rows = [outputs(single, args[0][k], args[1][k], args[2]) for k in range(4)]
    want = [np.array([r[0] for r in rows]), np.stack([r[1] for r in rows])]
    close(outputs(graph, *args), want)
    close(gc.compile(graph)(*args), want)


# -- checkpointing and the binomial schedule ------------------------------------------------------


@pytest.mark.parametrize("steps, slots", [(1, 1), (10, 1), (10, 2), (50, 3), (286, 10), (1000, 6)])
def test_binomial_schedule_reverses_every_step_within_its_budget(steps, slots):
    evaluations, turns, held = np.zeros(steps, int), [], {0}
    for action in actions(steps, slots):
        if action[0] == "advance":
            _, source, start, count, target = action
            assert source in held and source < slots
            evaluations[start : start + count] += 1
            if target is not None:
                assert target == source + 1 < slots  # never more than `slots` carries
                held = {s for s in held if s <= source} | {target}
        else:
            turns.append(action[1])
    assert turns == list(range(steps - 1, -1, -1))
    r = repetitions(steps, slots)
    assert beta(slots, r) >= steps and (r == 0 or beta(slots, r - 1) < steps)
    assert evaluations.max(initial=0) <= r  # no step is advanced more than r times
    # Griewank's minimal total number of advances for a length of exactly beta(slots, r).
    if steps == beta(slots, r) and r:
        assert evaluations.sum() == r * steps - beta(slots + 1, r - 1)


def test_workspace_holds_the_trajectory_and_checkpointing_shrinks_it():
    T, n = 600, 16
    x = gc.vector("x", n)
    sizes = {}
    for policy, memory in [(None, None), (30, None), ("binomial", 10 * n * 8)]:
        last, _ = gc.scan(
            lambda c, _: (gc.tanh(c * 0.9 + 0.1), None),
            x,
            length=T,
            checkpoint=policy,
            memory=memory,
        )
        f = gc.sum(last)
        fn = gc.compile(gc.Graph([x], [f, gc.grad(f, x)]))
        sizes[policy] = fn.stats["workspace_bytes"]
        close(
            fn(np.linspace(-1, 1, n)),
            outputs(gc.Graph([x], [f, gc.grad(f, x)]), np.linspace(-1, 1, n)),
        )
    assert sizes[None] >= T * n * 8
    assert sizes[30] < sizes[None] / 4
    assert sizes["binomial"] < sizes[None] / 10


# -- structure ------------------------------------------------------------------------------------


def logistic(x, n=5):
    return gc.scan(lambda c, _: (4.0 * c * (1.0 - c), None), x, length=n)[0]


def test_printing_shows_the_body_indented():
    x = gc.scalar("x")
    text = str(gc.Graph([x], logistic(x)))
    assert text.splitlines()[:6] == [
        "graph(%x: f64[]):",
        "  %0: f64[1] = scan[checkpoint=1 length=5 n_carry=1 n_xs=0 reverse=False store=0] %x",
        "    body(%c0: f64[]):",
        "      %0: f64[] = mul 4.0 %c0",
        "      %1: f64[] = sub 1.0 %c0",
        "      %2: f64[] = mul %0 %1",
    ]


def test_dot_draws_bodies_as_clusters():
    x = gc.scalar("x")
    dot = gc.to_dot(gc.Graph([x], [gc.grad(logistic(x), x)]))
    assert dot.count("subgraph cluster_") == 2 and 'label="scan body"' in dot
    assert dot == gc.to_dot(gc.Graph([x], [gc.grad(logistic(x), x)]))  # deterministic


def test_serialisation_and_pickling_keep_bodies():
    x = gc.vector("x", 2)
    last, ys = gc.scan(lambda c, r: (gc.sin(c) + r, c * r), x, gc.constant(np.ones((3, 2))))
    graph = gc.Graph([x], [last, ys, gc.grad(gc.sum(ys), x)])
    document = serialize.to_dict(graph)
    import json

    again = serialize.from_dict(json.loads(json.dumps(document)))
    assert again == graph and again.structural_hash == graph.structural_hash
    assert str(again) == str(graph)
    close(outputs(again, np.array([0.2, 0.4])), outputs(graph, np.array([0.2, 0.4])))
    fn = pickle.loads(pickle.dumps(gc.compile(graph)))
    close(fn(np.array([0.2, 0.4])), outputs(graph, np.array([0.2, 0.4])))
    # A body that does not fit its scan is refused when the document is read.
    body = next(r for r in document["nodes"] if r["op"] == "scan")["attrs"]["body"]["graph"]
    body["nodes"][body["inputs"][0]]["attrs"]["shape"] = [3]
    body["nodes"][body["inputs"][0]]["shape"] = [3]
    with pytest.raises((TypeError, ValueError), match="scan"):
        serialize.from_dict(document)


def test_equal_loops_are_one_node_after_cse():
    x = gc.scalar("x")
    graph = gc.Graph([x], [logistic(x) + logistic(x)])
    assert graph.op_counts()["scan"] == 2
    assert gc.optimize(graph).op_counts()["scan"] == 1


# -- passes ---------------------------------------------------------------------------------------


def test_passes_run_inside_bodies():
    x = gc.vector("x", 3)
    last, _ = gc.scan(lambda c, _: ((c * 1.0 + c * 1.0) / 2.0, None), x, length=3)
    optimized = gc.optimize(gc.Graph([x], last), verify=True)
    (scan,) = [n for n in optimized.nodes if n.op == "scan"]
    assert len(scan.attrs["body"].nodes) < 5  # mul by 1.0 gone, c + c merged


def test_hoist_moves_loop_invariant_work_out_of_a_body():
    W = gc.matrix("W", (3, 3))
    x = gc.vector("x", 3)
    c, k = placeholder("c0", (3,), "float64"), placeholder("k0", (3, 3), "float64")
    body, _ = normalize(gc.Graph([c, k], [gc.tanh(gc.exp(k).T @ c)]), 1)
    node = make_scan(body, [x], [], [W], 4)
    graph = gc.Graph([x, W], node)
    hoisted = passes.make_pass("hoist")(graph)
    (scan,) = [n for n in hoisted.nodes if n.op == "scan"]
    assert {n.op for n in scan.attrs["body"].nodes} == {"input", "matmul", "tanh"}
    assert [n.op for n in scan.args[1:]] == ["input", "transpose"]
    args = [RNG.standard_normal(3), RNG.standard_normal((3, 3))]
    close(outputs(hoisted.verify(), *args), outputs(graph, *args), rtol=0)
    close([gc.compile(graph)(*args)], outputs(graph, *args), rtol=1e-15)


def test_one_loop_serves_a_value_and_its_gradient_and_unread_results_are_pruned():
    x = gc.vector("x", 3)
    last, ys = gc.scan(lambda c, _: (gc.sin(c) * 0.9, gc.exp(c)), x, length=8)
    f = gc.sum(last)
    graph = gc.Graph([x], [f, gc.grad(f, x)])
    assert graph.op_counts()["scan"] == 3  # value, value storing carries, reverse loop
    optimized = gc.optimize(graph, verify=True)
    scans = [n for n in optimized.nodes if n.op == "scan"]
    assert len(scans) == 2
    for scan in scans:  # nobody reads exp(c): it is computed in neither loop
        assert "exp" not in {n.op for n in scan.attrs["body"].nodes}
    close(outputs(optimized, np.ones(3)), outputs(graph, np.ones(3)), rtol=0)


def test_forward_mode_reuses_the_loop_of_the_value():
    x, v = gc.vector("x", 3), gc.vector("v", 3)
    last, _ = gc.scan(lambda c, _: (gc.sin(c) * 1.5 + gc.sum(c) * 0.1, None), x, length=8)
    f = gc.sum(last**2)
    graph = gc.Graph([x, v], [f, gc.jvp(f, x, v), gc.hvp(f, x, v)])
    optimized = gc.optimize(graph, verify=True)
    # Built: the value's loop, the jvp's loop over (carry, tangent), and for the hvp the forward
    # loop storing carries, the reverse loop and the tangents of both. Run: one forward loop
    # over (carry, tangent) storing both, which serves the value, the jvp and the hvp's forward
    # pass, and the hvp's reverse loop.
    assert graph.op_counts()["scan"] == 6 and optimized.op_counts()["scan"] == 2
    args = [np.array([0.1, 0.5, -0.3]), np.array([1.0, 2.0, 0.5])]
    close(outputs(optimized, *args), outputs(graph, *args), rtol=0)


def test_a_slice_used_many_times_in_a_step_is_one_closed_over_value():
    p = gc.vector("p", 2)
    (u,), _ = gc.scan(
        lambda c, _: ((c[0] * p[0] + c[0] * p[1] * p[0] - p[1],), None), (1.0,), length=4
    )
    optimized = gc.optimize(gc.Graph([p], [u, gc.grad(u, p)]), verify=True)
    for scan in (n for n in optimized.nodes if n.op == "scan"):
        closed = scan.args[scan.attrs["n_carry"] + scan.attrs["n_xs"] :]
        assert len(closed) == 2 and all(c.shape == () for c in closed)  # p[0], p[1]: scalars
    p0 = np.array([0.9, 0.2])
    close(outputs(optimized, p0), outputs(gc.Graph([p], [u, gc.grad(u, p)]), p0))


# -- native code ----------------------------------------------------------------------------------


def test_code_size_and_compile_work_do_not_depend_on_the_trip_count():
    counts = []
    for n in (10, 100_000):
        x = gc.scalar("x")
        last = logistic(x, n)
        fn = gc.compile(gc.Graph([x], [last, gc.grad(last, x)]), cache=False)
        counts.append(fn.stats["instructions"])
        assert np.isfinite(fn(0.3)[0])
    assert counts[0] == counts[1]


def test_batch_and_threads_run_scans_per_row():
    x = gc.vector("x", 4)
    last, ys = gc.scan(lambda c, _: (gc.tanh(c * 1.3 + 0.2), gc.sum(c)), x, length=300)
    f = gc.sum(last) + gc.sum(ys)
    fn = gc.compile(gc.Graph([x], [f, gc.grad(f, x)]))
    rows = RNG.standard_normal((50, 4))
    values, grads = fn.batch(rows, threads=2)
    for row, value, grad in zip(rows, values, grads):
        close([value, grad], fn(row))


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda x: gc.scan(lambda c, _: (gc.sum(c), None), x, length=4), r"carry 0 of shape \(\)"),
        (lambda x: gc.scan(lambda c, _: (c.astype("float32"), None), x, length=2), "gc.astype"),
        (lambda x: gc.scan(lambda c, _: c, x, length=2), r"pair \(new_carry, y\)"),
        (lambda x: gc.scan(lambda c, _: ((c, c), None), x, length=2), "structure"),
        (lambda x: gc.scan(lambda c, _: (c, "y"), x, length=2), "output 0 of the step function"),
        (lambda x: gc.scan(lambda c, _: (c, c.astype("int64")), x, length=2), "mix integers"),
        (lambda x: gc.scan(lambda c, _: (c, None), x), "give xs"),
        (lambda x: gc.scan(lambda c, _: (c, None), x, length=-1), ">= 0"),
        (lambda x: gc.scan(lambda c, _: (c, None), x, gc.scalar("s")), "scalar"),
        (lambda x: gc.scan(lambda c, r: (c, None), x, gc.matrix("m", (3, 2)), length=4), "3 rows"),
        (
            lambda x: gc.scan(
                lambda c, r: (c, None), x, (gc.matrix("m", (5, 3)), gc.matrix("n", (6, 3)))
            ),
            r"\(5, 3\).*\(6, 3\)",
        ),
        (lambda x: gc.scan(lambda c, _: (c, None), x, length=3, checkpoint=0), "checkpoint"),
        (lambda x: gc.scan(lambda c, _: (c, None), x, length=3, memory=4), "holds no carry"),
        (
            lambda x: gc.scan(lambda c, _: (c, None), x, length=3, checkpoint=2, memory=100),
            "binomial",
        ),
        (lambda x: gc.scan(None, x, length=3), "callable"),
    ],
)
def test_bad_scans_raise_clear_errors(build, message):
    with pytest.raises((TypeError, ValueError), match=message) as info:
        build(gc.vector("x", 3))
    assert "scan" in str(info.value)
