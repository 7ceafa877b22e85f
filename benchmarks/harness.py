"""What every benchmark problem shares: timing, agreement checks, optional peers, the C baseline.

- Timing: :meth:`Context.time` warms each callable up, calibrates how many calls make one sample
  (about ``target`` seconds), then takes samples round-robin over all the callables of one row,
  so a burst of load on this shared machine hits every tool alike. Minimum and median per call.
- Agreement: :func:`agree` compares a peer's outputs with graphc's, normwise (max abs error over
  max abs value), before that peer is timed; a peer that disagrees is reported, never timed.
- Peers: :meth:`Context.peer` imports a tool once, or prints one line saying it is skipped.
- C: :class:`CBuilder` compiles ``benchmarks/csrc/NAME.c`` with the system ``cc -O3
  -march=native -shared -fPIC`` into a temporary directory, once per run, for ctypes.

The thread settings are made by ``run.py`` before numpy is imported (see ``threads.py``): this
module imports numpy, so it must come after them.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threads import THREAD_ENV

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CSRC = HERE / "csrc"

# Normwise tolerances for the cross-checks: max|peer - graphc| <= tol * max(|graphc|, tiny).
RTOL = {"float64": 1e-9, "float32": 2e-4}


@dataclass
class Timing:
    """Seconds per call: the minimum and median over ``samples`` samples of ``number`` calls."""

    min: float
    median: float
    number: int
    samples: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "min": self.min,
            "median": self.median,
            "number": self.number,
            "samples": self.samples,
        }


@dataclass
class Context:
    """Options of one run, shared by every problem."""

    quick: bool = False
    timing: bool = True  # False: build and cross-check only (the test suite)
    samples: int = 7
    target: float = 0.02  # seconds per sample
    log: Callable[[str], None] = print
    skipped: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # graphc against its own oracles
    disagreements: list[str] = field(default_factory=list)  # a peer against graphc
    _peers: dict[str, Any] = field(default_factory=dict)
    cbuild: CBuilder | None = None

    def peer(self, name: str) -> Any:
        """The module ``name`` (configured for benchmarking), or None with one printed line."""
        if name in self._peers:
            return self._peers[name]
        try:
            module = importlib.import_module(name)
            if name == "jax":
                module.config.update("jax_enable_x64", True)
                module.config.update("jax_platforms", "cpu")
            elif name == "torch":
                module.set_num_threads(1)
            elif name == "matplotlib":
                module.use("Agg")
        except Exception as error:  # ImportError, or a broken install: either way, skip it
            module = None
            self.skipped[name] = f"{type(error).__name__}: {error}"
            self.log(f"  skipping {name}: not installed ({type(error).__name__}: {error})")
        self._peers[name] = module
        return module

    def check(self, ok: bool, what: str) -> bool:
        """Record a failed check of graphc against an independent oracle."""
        if not ok:
            self.failures.append(what)
            self.log(f"  GRAPHC FAILED: {what}")
        return ok

    def disagree(self, what: str) -> None:
        """Record a peer (or the C baseline) whose results differ from graphc's."""
        self.disagreements.append(what)
        self.log(f"  DISAGREES, not timed: {what}")

    def c_library(self, name: str) -> ctypes.CDLL | None:
        if self.cbuild is None:
            self.cbuild = CBuilder(self.log)
        return self.cbuild.load(name)

    def time(
        self, calls: dict[str, Callable[[], object]], samples: int | None = None
    ) -> dict[str, Timing]:
        """Time every callable of one row, interleaved. Without timing: nothing."""
        if not self.timing or not calls:
            return {}
        samples = samples or (3 if self.quick else self.samples)
        numbers = {}
        for label, call in calls.items():
            call()  # warm-up: caches, lazy initialisation, first-call compilation
            numbers[label] = _calibrate(call, self.target / (2 if self.quick else 1))
        per_call: dict[str, list[float]] = {label: [] for label in calls}
        for _ in range(samples):
            for label, call in calls.items():
                number = numbers[label]
                start = time.perf_counter()
                for _ in range(number):
                    call()
                per_call[label].append((time.perf_counter() - start) / number)
        return {
            label: Timing(min(t), statistics.median(t), numbers[label], samples)
            for label, t in per_call.items()
        }


def _calibrate(call: Callable[[], object], target: float) -> int:
    """Calls per sample so that one sample takes about ``target`` seconds (at least one call)."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= target / 4 or number >= 1 << 20:
            break
        number *= 4
    return max(1, math.ceil(number * target / max(elapsed, 1e-9)))


def seconds(call: Callable[[], object]) -> tuple[float, object]:
    """Wall time of one call (a compile, a trace, a first call) and its result."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def flat(outputs: object) -> list[np.ndarray]:
    """Outputs of any tool as a list of float64 numpy arrays (tuples and lists are unpacked)."""
    if isinstance(outputs, (tuple, list)):
        items = list(outputs)
    else:
        items = [outputs]
    result = []
    for item in items:
        if hasattr(item, "detach"):  # torch
            item = item.detach().numpy()
        elif hasattr(item, "full"):  # casadi DM
            item = item.full()
        result.append(np.asarray(item, dtype=np.float64).ravel())
    return result


def agree(got: object, want: object, dtype: str = "float64") -> tuple[bool, float]:
    """(ok, error): every output of ``got`` within the stated tolerance of ``want``'s.

    The error is normwise per output, max|got - want| / max|want|, and the worst over outputs.
    """
    got_list, want_list = flat(got), flat(want)
    if len(got_list) != len(want_list):
        return False, math.inf
    worst = 0.0
    for g, w in zip(got_list, want_list):
        if g.shape != w.shape:
            return False, math.inf
        scale = max(float(np.max(np.abs(w))) if w.size else 0.0, 1e-300)
        error = float(np.max(np.abs(g - w))) / scale if w.size else 0.0
        if not math.isfinite(error):
            return False, math.inf
        worst = max(worst, error)
    return worst <= RTOL[dtype], worst


class CBuilder:
    """Compiles the hand-written C baselines once per run into a temporary directory."""

    FLAGS = ("-O3", "-march=native", "-shared", "-fPIC")

    def __init__(self, log: Callable[[str], None] = print):
        self.log = log
        self.compiler = shutil.which(os.environ.get("CC", "cc"))
        self.directory = Path(tempfile.mkdtemp(prefix="graphc-bench-c-"))
        self.libraries: dict[str, ctypes.CDLL | None] = {}
        if self.compiler is None:
            self.log("  skipping the C baselines: no C compiler (cc) on PATH")

    def load(self, name: str) -> ctypes.CDLL | None:
        if name in self.libraries:
            return self.libraries[name]
        library = None
        if self.compiler is not None:
            target = self.directory / f"{name}.so"
            command = [self.compiler, *self.FLAGS, str(CSRC / f"{name}.c"), "-o", str(target)]
            done = subprocess.run(command + ["-lm"], capture_output=True, text=True)
            if done.returncode == 0:
                library = ctypes.CDLL(str(target))
            else:
                self.log(f"  skipping the C baseline {name}: {done.stderr.strip()[:300]}")
        self.libraries[name] = library
        return library


def cross_check(
    ctx: Context, what: str, calls: dict[str, Callable[[], object]], reference: object
) -> tuple[dict[str, str], dict[str, Callable[[], object]]]:
    """Run every call once against graphc's ``reference``: (status by label, the calls that agree
    and may be timed). A call that disagrees is reported and never timed."""
    status, checked = {}, {}
    for label, call in calls.items():
        ok, err = agree(call(), reference)
        status[label] = "ok" if ok else f"disagrees with graphc (error {err:.1e})"
        if ok:
            checked[label] = call
        else:
            ctx.disagree(f"{what}: {label}, error {err:.2e}")
    return status, checked


def c_compiler_version() -> str:
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        return "none"
    done = subprocess.run([compiler, "--version"], capture_output=True, text=True)
    return done.stdout.splitlines()[0] if done.stdout else compiler


def ptr(array: np.ndarray) -> int:
    """The data pointer of a contiguous array, as an int (fetch once: it costs a microsecond)."""
    assert array.flags.c_contiguous
    return array.ctypes.data


def c_function(
    library: ctypes.CDLL, name: str, restype: Any, argtypes: Sequence[Any]
) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    function = getattr(library, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


def run_worker(task: str, args: Sequence[str], timeout: float) -> dict:
    """Run ``worker.py TASK ARGS`` in a fresh process and merge the JSON lines it printed.

    The worker prints a line after each stage, so a timeout (the child is killed) still leaves
    the stages that finished, with ``"timed_out": timeout``; a crash leaves ``"error"``.
    """
    command = [sys.executable, str(HERE / "worker.py"), task, *map(str, args)]
    env = dict(os.environ, **THREAD_ENV)
    # A fresh process imports as a user's Python does, from compiled bytecode (pip writes it at
    # install time): a sandbox's PYTHONDONTWRITEBYTECODE=1 would have every worker recompile
    # every module it imports from source (measured: 50-70 ms of graphc's first compile).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    answer: dict[str, Any] = {}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as expired:
        stdout = _text(expired.stdout)
        stderr, code = _text(expired.stderr), None
        answer["timed_out"] = timeout
    for line in stdout.splitlines():
        if line.startswith("{"):
            answer.update(json.loads(line))
    if code not in (0, None):
        # The exception line (e.g. "RecursionError: ..."), not the hints printed after it.
        lines = (stderr or stdout).strip().splitlines()
        errors = [line for line in lines if re.match(r"^\w*(Error|Exception)\b", line)]
        # A negative code is a signal (-11: segmentation fault), often with nothing printed.
        message = errors[-1] if errors else " | ".join(lines[-3:])
        answer["error"] = message[:400] if message and code > 0 else f"exit {code}"
    return answer


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def versions() -> dict[str, str]:
    """Versions of graphc, its backend and every peer that imports (without importing the rest)."""
    from importlib import metadata

    names = ["graphc", "numpy", "llvmlite", "jax", "jaxlib", "torch", "pytensor", "casadi"]
    names += ["sympy", "autograd", "matplotlib"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, load, versions, thread settings."""
    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    try:
        from llvmlite import binding

        llvm_cpu = binding.get_host_cpu_name()
    except Exception:  # noqa: BLE001 - informative only
        llvm_cpu = "?"
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "graphc_revision": revision or "?",
        "cpu": cpu,
        "llvm_cpu": llvm_cpu,
        "avx512": " avx512f" in flags,
        "cores": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "versions": versions(),
        "threads": dict(THREAD_ENV, torch="torch.set_num_threads(1)"),
        "c_compiler": c_compiler_version(),
    }


def fmt_time(value: float | None) -> str:
    """Seconds as a short human string: 0.35 us, 12.1 us, 3.40 ms, 1.25 s."""
    if value is None or not math.isfinite(value):
        return "-"
    if value < 1e-6:
        return f"{value * 1e9:.0f} ns"
    if value < 1e-3:
        return f"{value * 1e6:.3g} us"
    if value < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}"
