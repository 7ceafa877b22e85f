"""graphc against the tools users would pick instead, in one command, on one machine, in one run.

    python benchmarks/run.py                  # the whole suite (about 30-40 minutes here)
    python benchmarks/run.py --quick          # a small subset, about a minute or two
    python benchmarks/run.py --only helmholtz # one problem (repeatable)
    python benchmarks/run.py --check-only     # build and cross-check, no timing (the tests)
    python benchmarks/run.py --report-only    # rewrite the doc and plots from saved results

Problems: helmholtz, overhead, batch, swell, mlp, compile_time (``benchmarks/problems/``).
Raw results go to ``benchmarks/results/NAME.json`` (``--quick``: ``benchmarks/results/quick/``),
and a full run regenerates the marked tables of ``docs/performance.md`` and the plots in
``docs/img/`` (``--quick`` only prints its tables: a subset must not overwrite the full ones).

Peers (jax, torch, pytensor, casadi, sympy, autograd) come from ``pip install -e '.[bench]'``;
any that is missing is skipped with a printed line. Every tool's values and gradients are checked
against graphc's before it is timed; one that disagrees is reported, not timed. BLAS, XLA, OpenMP
and torch run on one thread (``benchmarks/threads.py``), set here before any of them is loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from threads import set_thread_env  # noqa: E402

set_thread_env()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import problems  # noqa: E402
import report  # noqa: E402
from harness import ROOT, Context, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DOC = ROOT / "docs" / "performance.md"
IMAGES = ROOT / "docs" / "img"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset, about a minute")
    parser.add_argument(
        "--only", action="append", choices=problems.ORDER, metavar="NAME",
        help=f"run only this problem (repeatable): {', '.join(problems.ORDER)}",
    )  # fmt: skip
    parser.add_argument(
        "--check-only", action="store_true", help="build and cross-check every tool, no timing"
    )
    parser.add_argument("--results", type=Path, help="where the JSON goes (default: results/)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite docs/performance.md and the plots from the saved results",
    )
    parser.add_argument(
        "--docs", action=argparse.BooleanOptionalAction, default=None,
        help="regenerate docs/performance.md and docs/img (default: only for a full timed run)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # PyTensor warns at length that pip's build found no BLAS; the report says so once.
    warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    names = args.only or list(problems.ORDER)
    results_dir = args.results or (RESULTS / "quick" if args.quick else RESULTS)
    results_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(quick=args.quick, timing=not args.check_only)
    if args.report_only:
        report.update(DOC, IMAGES, results_dir, ctx)
        print(f"updated {DOC.relative_to(ROOT)} and {IMAGES.relative_to(ROOT)}/ from {results_dir}")
        return 0
    about = machine()
    print(f"graphc benchmarks on {about['cpu']} ({about['cores']} cores)")
    print(f"load average {about['load_average']}")
    print("threads: " + ", ".join(f"{k}={v}" for k, v in about["threads"].items()))
    done: dict[str, dict] = {}
    for name in names:
        module = problems.load(name)
        print(f"\n== {module.TITLE} ==")
        load_before = list(os.getloadavg())
        start = time.perf_counter()
        result = module.run(ctx)
        result.update(
            problem=name,
            quick=args.quick,
            timed=ctx.timing,
            machine=about,
            load_average_before=load_before,
            load_average_after=list(os.getloadavg()),
            elapsed_seconds=time.perf_counter() - start,
            date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        )
        (results_dir / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
        for block, text in module.render(result).items():
            print(f"\n[{block}]\n{text}")
        print(f"({name}: {result['elapsed_seconds']:.0f} s)")
        done[name] = result
    write_docs = args.docs if args.docs is not None else (not args.quick and ctx.timing)
    if write_docs:
        report.update(DOC, IMAGES, results_dir, ctx)
        print(f"\nupdated {DOC.relative_to(ROOT)} and {IMAGES.relative_to(ROOT)}/")
    if ctx.skipped:
        print("\nskipped peers: " + ", ".join(sorted(ctx.skipped)))
    if ctx.failures:
        print("\ngraphc FAILED its own checks:\n  " + "\n  ".join(ctx.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
