"""The math library functions elementwise lowerings call: one declaration each.

A record's lowering calls a function by name, ``em.call("erf", x)``; the emitter
(``graphc.jit.emit``) declares it from the entry here, and the engine derives from this table
which process symbols compiled code needs. Neither holds a list of functions of its own, so
a new libm function is one line here (see "How to add an op" in ``docs/architecture.md``).

Each :class:`MathFunction` says:
- ``symbol``: glibc's double-precision symbol (the float one is ``symbol + "f"``, C99's rule);
- ``intrinsic``: LLVM has ``llvm.<name>.f64``/``.f32`` for it, from LLVM major version
  ``intrinsic_since`` on. LLVM knows what an intrinsic computes (constant folding, hoisting) and
  lowers it to an instruction where the CPU has one (sqrt, fabs, floor, ceil, roundeven,
  copysign on x86-64) or to the libm call otherwise. On an older LLVM the plain libm symbol is
  called: an intrinsic LLVM does not know would be called as a function named ``llvm.*``;
- ``vector``: glibc's libmvec has AVX2 variants (``_ZGVdN4v_<symbol>``, ``_ZGVdN8v_<symbol>f``)
  that were measured within 4 ulp of the exact result in both dtypes
  (``tests/test_special_functions.py``); only these are used with ``vector_math``;
- ``sign_out``: the function takes a trailing ``int *`` it writes (``lgamma_r``, the
  thread-safe ``lgamma``: plain ``lgamma`` writes the global ``signgam``, a data race when
  ``fn.batch`` runs threads).

Invariant: every entry resolves in-process on Linux with glibc >= 2.28 (checked by the engine
before any code runs: a missing symbol raises instead of crashing).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc import dtypes


@dataclass(frozen=True)
class MathFunction:
    name: str
    arity: int = 1
    intrinsic: bool = False
    intrinsic_since: int = 0  # the LLVM major version that introduced llvm.<name>
    vector: bool = False
    symbol: str = ""  # glibc's double-precision name; "" means ``name``
    sign_out: bool = False

    def libm(self, dtype: str) -> str:
        """glibc's symbol for ``dtype`` (``float32`` adds C99's ``f`` suffix)."""
        base = self.symbol or self.name
        if self.sign_out:  # lgamma_r -> lgammaf_r
            stem, _, tail = base.partition("_")
            return base if dtype == dtypes.FLOAT64 else f"{stem}f_{tail}"
        return base if dtype == dtypes.FLOAT64 else base + "f"

    def intrinsic_name(self, dtype: str) -> str:
        return f"llvm.{self.name}.{'f64' if dtype == dtypes.FLOAT64 else 'f32'}"


FUNCTIONS: dict[str, MathFunction] = {}


def declare(*functions: MathFunction) -> None:
    for function in functions:
        if function.name in FUNCTIONS:
            raise RuntimeError(f"math function {function.name!r} is declared twice")
        FUNCTIONS[function.name] = function


def lookup(name: str) -> MathFunction:
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise ValueError(
            f"no lowering for math function {name!r}: declare it in graphc/ops/libm.py"
        ) from None


# LLVM 20 introduced the intrinsics of the trigonometric and hyperbolic functions beyond sin and
# cos (tan arrived in 19, atan2 in 20); 20 is the conservative floor for all of them.
_NEW_TRIG = 20

declare(
    # exponentials and logarithms
    MathFunction("exp", intrinsic=True, vector=True),
    MathFunction("exp2", intrinsic=True, vector=True),
    MathFunction("expm1", vector=True),
    MathFunction("log", intrinsic=True, vector=True),
    MathFunction("log2", intrinsic=True, vector=True),
    MathFunction("log10", intrinsic=True, vector=True),
    MathFunction("log1p", vector=True),
    MathFunction("pow", arity=2, intrinsic=True, vector=True),
    MathFunction("sqrt", intrinsic=True),
    MathFunction("cbrt", vector=True),
    MathFunction("hypot", arity=2, vector=True),
    # trigonometric and hyperbolic functions and their inverses
    MathFunction("sin", intrinsic=True, vector=True),
    MathFunction("cos", intrinsic=True, vector=True),
    MathFunction("tan", intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("asin", intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("acos", intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("atan", intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("atan2", arity=2, intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("sinh", intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("cosh", intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("tanh", intrinsic=True, intrinsic_since=_NEW_TRIG, vector=True),
    MathFunction("asinh", vector=True),
    MathFunction("acosh", vector=True),
    MathFunction("atanh", vector=True),
    # special functions
    MathFunction("erf", vector=True),
    MathFunction("erfc", vector=True),
    MathFunction("lgamma", symbol="lgamma_r", sign_out=True),
    # exact operations
    MathFunction("fabs", intrinsic=True),
    MathFunction("copysign", arity=2, intrinsic=True),
    MathFunction("floor", intrinsic=True),
    MathFunction("ceil", intrinsic=True),
    MathFunction("roundeven", intrinsic=True),
    MathFunction("fmod", arity=2),
)
