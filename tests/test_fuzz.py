"""The differential fuzzer (graphc.fuzz): a small seeded run finds nothing new on today's code,
every op is generated and has a contract, and each oracle catches a bug planted in the op table
or the optimizer, with a shrunk reproducer that runs.

Known bugs are left out of the seeded run (``Config.include_known`` is empty): the generator
avoids what triggers them where it can and labels what it still finds. Once a bug of
``graphc.fuzz.KNOWN_BUGS`` is fixed, add its name to ``INCLUDE_KNOWN`` below so the run checks the
fix.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

import graphc as gc
from graphc import fuzz
from graphc.jit import engine
from graphc.ops import OPS

fold_module = importlib.import_module("passes.fold_constants")  # (passes exports the function)

INCLUDE_KNOWN: frozenset[str] = frozenset(fuzz.KNOWN_BUGS)  # all fixed: check every one


def small_config(**changes) -> fuzz.Config:
    base = fuzz.Config(seed=1, max_cases=5, max_ops=20, points=2, include_known=INCLUDE_KNOWN)
    return replace(base, **changes)


def test_a_small_seeded_run_finds_nothing_new():
    report = fuzz.run(small_config())
    assert not report.failures(), report.details()
    # Every check ran: the run compared something in each of them.
    checks = ["optimize", "compile", "fusion", "types", "batch", "dot", "fd", "rules", "trace"]
    if engine.vector_math_available():
        checks.append("vector_math")
    for check in checks:
        assert report.stats.comparisons[check] > 0, (check, report.summary())
    assert report.stats.compiles >= 2 * report.stats.cases


def test_every_op_has_a_contract_and_is_generated():
    ops = {name for name, op in OPS.items() if op.kind not in ("input", "const")}
    assert ops <= set(fuzz.CONTRACTS), f"ops without a contract: {ops - set(fuzz.CONTRACTS)}"
    stats = fuzz.Stats()
    for index in range(40):  # generation only: no compile
        fuzz.generate(small_config(seed=7), index, stats)
    missing = ops - set(stats.ops)
    assert not missing, f"the generator never built {sorted(missing)}"


def test_cases_are_deterministic():
    first, _ = fuzz.generate(small_config(), 5, fuzz.Stats())
    second, _ = fuzz.generate(small_config(), 5, fuzz.Stats())
    assert str(first.graph()) == str(second.graph())
    for a, b in zip(first.points, second.points):
        assert all(fuzz.same_bits(x, y).all() for x, y in zip(a, b))


def test_ulp_distance_and_bitwise_equality():
    a = np.array([1.0, -0.0, np.nan, np.inf, 5e-324])
    b = np.array([np.nextafter(1.0, 2.0), 0.0, np.nan, np.inf, -5e-324])
    assert fuzz.ulp_distance(a, b).tolist() == [1.0, 0.0, 0.0, 0.0, 2.0]
    assert fuzz.same_bits(a, b).tolist() == [False, False, True, True, False]
    f32 = np.array([1.0, np.nan], dtype=np.float32)
    assert fuzz.ulp_distance(f32, np.array([1.0, 0.0], dtype=np.float32)).tolist() == [0, np.inf]


def test_in_order_models_of_reductions_and_products():
    x = gc.matrix("x", 2, 3)
    rows = np.array([[1e16, 1.0, -1e16], [-0.0, -0.0, -0.0]])
    total = gc.sum(x, axis=1)
    # In order: (0 + 1e16 + 1) - 1e16 = 0, where the exact sum is 1; -0.0 terms sum to +0.0.
    assert fuzz.inorder_reduce(total, rows).tolist() == [0.0, 0.0]
    assert not np.signbit(fuzz.inorder_reduce(total, rows)[1])
    ties = np.array([[0.0, -0.0, 1.0], [-0.0, 0.0, np.nan]])
    assert fuzz.inorder_reduce(gc.min(x, axis=1), ties)[0] == 0.0
    assert np.signbit(fuzz.inorder_reduce(gc.min(x, axis=1), ties)[0])  # the later tie wins
    assert np.isnan(fuzz.inorder_reduce(gc.max(x, axis=1), ties)[1])
    a, b = np.array([[1e16, 1.0, -1e16]]), np.ones((3, 1))
    assert fuzz.inorder_matmul(x[:1] @ gc.matrix("y", 3, 1), a, b).tolist() == [[0.0]]


# -- each oracle catches a planted bug ------------------------------------------------------------


def single_case(inputs, outputs, points, derivs=()):
    return fuzz.Case(tuple(inputs), tuple(outputs), [tuple(p) for p in points], tuple(derivs), "t")


def findings_of(case, group, **config):
    return fuzz.run_checks(case, small_config(**config), fuzz.Stats(), [group])


def test_a_miscompiled_op_is_found(monkeypatch):
    x = gc.vector("x", 4)
    case = single_case([x], [gc.sin(x) * 2.0], [[np.linspace(0.1, 2.0, 4)]])
    assert findings_of(case, "compile") == []
    wrong = replace(OPS["sin"], lower=OPS["cos"].lower)
    monkeypatch.setitem(OPS, "sin", wrong)
    found = findings_of(case, "compile")
    assert [f.key for f in found if f.check == "compile"] == ["sin"], found
    assert "ulp from numpy" in found[0].message


def test_a_wrong_derivative_rule_is_found(monkeypatch):
    x = gc.vector("x", 3)
    y = gc.tanh(x) * x
    deriv = fuzz.Deriv((y,), (x,), (np.array([1.0, -2.0, 0.5]),), (np.array([0.3, 1.0, -1.0]),))
    case = single_case([x], [y], [[np.array([0.1, -0.7, 1.3])]], [deriv])
    assert findings_of(case, "derivatives") == []
    tanh = OPS["tanh"]
    double = lambda node, ct: (tanh.vjp(node, ct)[0] * 2.0,)  # noqa: E731
    monkeypatch.setitem(OPS, "tanh", replace(tanh, vjp=double))
    found = findings_of(case, "derivatives")
    # jvp and vjp disagree, in the graph and in tanh's rules alone
    assert {(f.check, f.key) for f in found} == {("dot", "jvp/vjp"), ("rule", "tanh")}, found
    doubled = lambda node, tangents: tanh.jvp(node, tangents) * 2.0  # noqa: E731
    monkeypatch.setitem(OPS, "tanh", replace(tanh, vjp=double, jvp=doubled))
    found = findings_of(case, "derivatives")
    # they agree, and both are wrong
    assert {(f.check, f.key) for f in found} == {("fd", "vjp"), ("rule", "tanh")}, found


def test_a_wrong_rewrite_is_found_and_shrunk_to_a_runnable_reproducer(monkeypatch):
    # Constant folding that is off in the last bits (folded products grow by 2^-40).
    fold = fold_module._RULES["mul"]

    def inexact(node):
        folded = fold(node)
        if folded is None or folded.op != "const" or folded.dtype != "float64":
            return folded
        return gc.constant(folded.value * (1.0 + 2.0**-40))

    monkeypatch.setitem(fold_module._RULES, "mul", inexact)
    config = small_config(max_cases=None, shrink_seconds=30.0)
    for index in range(20):
        case, _ = fuzz.generate(config, index, fuzz.Stats())
        found = [f for f in fuzz.run_checks(case, config, fuzz.Stats(), ["optimize"])
                 if f.key == "fold_constants"]  # fmt: skip
        if found:
            break
    else:
        pytest.fail("20 cases and no product of constants: the generator changed")
    shrunk = fuzz.Shrinker(found[0], config, fuzz.Stats()).shrink(case)
    assert len(fuzz._all_nodes(shrunk)) <= 6, str(shrunk.graph())
    source = fuzz.reproducer(shrunk, found[0])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<reproducer>", "exec"), {})  # it runs, and shows the difference
    assert "graph(" in printed.getvalue()


def test_known_bugs_are_labelled():
    """Whatever today's code does, a finding on these cases is the named known bug: when the bug
    is included (checked and failing the run) and when it is left out (counted as known)."""
    x, m = gc.vector("x", 3), gc.matrix("m", 2, 3)
    s = gc.scalar("s")
    b = gc.vector("b", 3, "bool")
    column, row = gc.constant([[1.0], [2.0], [3.0]]), gc.constant([[10.0, 20.0]])
    empty = gc.vector("e", 0)
    flags = [np.array([True, False, True])]
    power = x**0.0 + x
    unit = fuzz.Deriv((power,), (x,), (np.ones(3),), (np.array([0.5, 1.0, -1.0]),))
    b0 = gc.scalar("b0", "bool")
    quotient = b0 / x  # 0 / x where b0 is False: the derivative in x is 0
    ratio = fuzz.Deriv((quotient,), (x,), (np.ones(3),), (np.array([0.5, 1.0, -1.0]),))
    logged = gc.log1p(gc.sign(x))  # -inf at x < 0, and an infinite partial derivative there
    signed = fuzz.Deriv((logged,), (x,), (np.ones(3),), (np.array([0.5, 1.0, -1.0]),))
    cases = {
        "fold_broadcast_product": ("optimize", single_case([s], [s * (column * row)], [[0.5]])),
        "bool_ordering": ("compile", single_case([b], [b < True, b >= False], [flags])),
        "cast_saturates": (
            "compile",
            single_case([x], [gc.astype(x, "int64")], [[np.array([np.nan, 1e30, -np.inf])]]),
        ),
        "empty_reduction": (
            "compile",
            single_case([empty], [gc.sum(empty) + 1.0], [[np.zeros(0)]]),
        ),
        "empty_constant": (
            "compile",
            single_case([m], [m[:0] + gc.constant(np.ones((2, 3)))[:0]], [[np.ones((2, 3))]]),
        ),
        "stabilize_bool": ("optimize", single_case([b], [gc.log(gc.sigmoid(b))], [flags])),
        "trace_zero_tangent": (
            "derivatives",
            single_case([x], [], [[np.array([1.2, 0.0, -0.3])]], [signed]),
        ),
        "div_vjp_overflow": (
            "derivatives",
            single_case([b0, x], [], [[False, np.array([0.5, 1.5e-310, 2.0])]], [ratio]),
        ),
        "pow_grad_at_zero": (
            "derivatives",
            single_case([x], [power], [[np.array([0.0, 1.0, 2.0])]], [unit]),
        ),
    }
    assert set(cases) <= set(fuzz.KNOWN_BUGS)
    for name, (group, case) in cases.items():
        for finding in findings_of(case, group, include_known=frozenset({name})):
            assert finding.known == name, (name, finding)
        unexplained = [f for f in findings_of(case, group) if f.known is None]
        assert not unexplained, (name, unexplained)


def test_the_command_line_runs_cases_in_a_worker_process():
    command = [sys.executable, "-m", "graphc.fuzz", "--cases", "1", "--seed", "3"]
    command += ["--max-ops", "8", "--no-shrink"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert "graphc.fuzz seed 3: 1 cases" in done.stdout, done.stdout + done.stderr
    assert done.returncode in (0, 1)
