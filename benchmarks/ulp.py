"""Accuracy of graphc's transcendental functions, in ulp against a 200-bit reference (mpmath).

    python benchmarks/ulp.py [--points N]

For each function libmvec vectorises (exp, log, log1p, expm1, sin, cos, tan, tanh, pow), in
float64 and float32, compiled twice: ``vector_math=False`` (glibc's scalar libm in every loop)
and ``vector_math=True`` (glibc's libmvec AVX2 variants in loops, libm for the remainder). The
inputs cover each function's useful range (the same ranges as the benchmark problems, and
wider); errors are |computed - exact| / ulp(exact), where exact is the correctly rounded value in
the dtype. The guide's bound for these functions is 4 ulp; ``vector_math`` is on by default
because libmvec stays within it.
"""

from __future__ import annotations

import argparse

import numpy as np

import graphc as gc


def ranges(rng: np.random.Generator, n: int) -> dict[str, tuple[object, object, list]]:
    import mpmath

    half = n // 2
    return {
        "exp": (gc.exp, mpmath.exp, [rng.uniform(-700, 700, n)]),
        "log": (gc.log, mpmath.log, [np.exp(rng.uniform(-700, 700, n))]),
        "log1p": (
            gc.log1p,
            mpmath.log1p,
            [
                np.concatenate(
                    [rng.uniform(-0.999, 1, half), np.exp(rng.uniform(-30, 30, n - half))]
                )
            ],
        ),
        "expm1": (gc.expm1, mpmath.expm1, [rng.uniform(-40, 700, n)]),
        "sin": (gc.sin, mpmath.sin, [rng.uniform(-1e3, 1e3, n)]),
        "cos": (gc.cos, mpmath.cos, [rng.uniform(-1e3, 1e3, n)]),
        "tan": (gc.tan, mpmath.tan, [rng.uniform(-1.5, 1.5, n)]),
        "tanh": (gc.tanh, mpmath.tanh, [rng.uniform(-20, 20, n)]),
        "pow": (
            lambda a, b: a**b,
            mpmath.power,
            [np.exp(rng.uniform(-20, 20, n)), rng.uniform(-30, 30, n)],
        ),
    }


def ulp_errors(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    finite = np.isfinite(exact) & (exact != 0)
    return np.abs(got[finite] - exact[finite]) / np.spacing(np.abs(exact[finite]))


def measure(points: int) -> list[tuple[str, str, float, float]]:
    import mpmath

    mpmath.mp.prec = 200
    rng = np.random.default_rng(0)
    rows = []
    for name, (build, exact_fn, columns) in ranges(rng, points).items():
        for dtype in ("float64", "float32"):
            args = [np.asarray(c, dtype=dtype) for c in columns]
            inputs = [gc.scalar(f"a{k}", dtype) for k in range(len(args))]
            graph = gc.Graph(inputs, build(*inputs))
            exact = np.array(
                [float(exact_fn(*(mpmath.mpf(float(v)) for v in row))) for row in zip(*args)]
            ).astype(dtype)
            worst = []
            for vector_math in (False, True):
                fn = gc.compile(graph, cache=False, vector_math=vector_math)
                got = np.asarray(fn.batch(*args), dtype=dtype)
                worst.append(float(ulp_errors(got, exact).max(initial=0.0)))
            rows.append((name, dtype, worst[0], worst[1]))
    return rows


def main() -> None:
    np.seterr(over="ignore", invalid="ignore")  # float32 copies of float64 ranges overflow
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000)
    points = parser.parse_args().points
    print(f"| function | dtype | libm max ulp | libmvec max ulp | ({points} points each)")
    print("|---|---|---|---|")
    for name, dtype, scalar, vector in measure(points):
        print(f"| {name} | {dtype} | {scalar:.1f} | {vector:.1f} |")


if __name__ == "__main__":
    main()
