"""Measurements that need a fresh process, run by ``harness.run_worker``; prints one JSON line.

    python benchmarks/worker.py helmholtz_rss N          peak RSS (VmHWM) of compile + run
    python benchmarks/worker.py compile TOOL KIND SIZE [CACHE_DIR]
                                                         compile time of a generated graph
    python benchmarks/worker.py sympy_swell N            SymPy's derivative of the logistic map
    python benchmarks/worker.py blocks TOOL D K          compile and run a model of K blocks

A fresh process is what these mean: peak RSS of one job, a cold compile (no JIT caches warm in
the parent), a second process hitting graphc's disk cache, and a hard time limit (the parent
kills the child) on tools that can run for minutes.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from threads import set_thread_env  # noqa: E402

set_thread_env()


def rss_bytes() -> int:
    """Peak resident memory of this process so far, in bytes.

    VmHWM, the high-water mark of this process's own memory map: ``ru_maxrss`` is no good in a
    child, because Linux carries the parent's peak over the fork and exec into it (a child of a
    1 GB benchmark run would report 1 GB before doing anything).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def helmholtz_rss(n: int) -> dict[str, Any]:
    import numpy as np
    from problems.helmholtz import graphc_f, problem

    import graphc as gc

    rss_imports = rss_bytes()
    p = problem(n)
    x = gc.vector("x", n)
    y = graphc_f(p, x)
    f = gc.compile(gc.Graph([x], y), cache=False)
    fg = gc.compile(gc.Graph([x], [y, gc.grad(y, x)]), cache=False)
    rss_compiled = rss_bytes()
    for _ in range(100):
        fg(p.x0)
    np.asarray(fg(p.x0)[1]).sum()
    return {
        "n": n,
        "workspace_f": f.stats["workspace_bytes"],
        "workspace_fg": fg.stats["workspace_bytes"],
        "constant_bytes": fg.stats["constant_bytes"],
        "rss_imports": rss_imports,
        "rss_compiled": rss_compiled,
        "rss_peak": rss_bytes(),
    }


def compile_task(tool: str, kind: str, size: int, cache_dir: str | None) -> dict[str, Any]:
    from problems.compile_time import compile_with

    return compile_with(tool, kind, size, cache_dir)


def emit(answer: dict[str, Any]) -> None:
    """One JSON line, flushed at once: the parent keeps it even if it kills us later."""
    print(json.dumps(answer), flush=True)


def sympy_swell(n: int) -> dict[str, Any]:
    from problems.swell import sympy_measure

    sympy_measure(n, emit)
    return {"n": n}


def main(argv: list[str]) -> int:
    task, args = argv[0], argv[1:]
    if task == "helmholtz_rss":
        answer = helmholtz_rss(int(args[0]))
    elif task == "compile":
        answer = compile_task(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else None)
    elif task == "sympy_swell":
        answer = sympy_swell(int(args[0]))
    elif task == "blocks":
        from problems.blocks import measure

        answer = measure(args[0], int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown task {task!r}")
    answer["cpu_seconds"] = time.process_time()
    emit(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
