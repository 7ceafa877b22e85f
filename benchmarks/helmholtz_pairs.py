"""Helmholtz f + gradient over f, measured in pairs (the compile-time issue's "the gradient's
own cost": at most 1.3 at every n, A symmetric as in the survey).

`benchmarks/run.py --only helmholtz` takes 7 samples of about 20 ms per tool, round-robin over
every tool of a row, so graphc's f and its f + gradient are timed 100 ms or more apart; at
n <= 50 a call takes 1-2 us and those rows move by tens of percent between runs on a shared
machine (the hand-written C baseline's ratio, which does not depend on graphc, moves as much).
Here each round times f and then f + gradient back to back, with no other tool in between, and
the ratio is read two ways: the ratio of the two minima over all rounds, and the median of the
rounds' own ratios. The same problem and the same compiled functions as the suite's.

    python benchmarks/helmholtz_pairs.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "problems"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from helmholtz import problem, tool_graphc  # noqa: E402

SIZES = (1, 8, 15, 22, 29, 36, 43, 50, 300, 1000)


def main(rounds: int = 30) -> list[dict[str, float]]:
    rows = []
    for n in SIZES:
        p = problem(n)
        f, fg, _ = tool_graphc(p)
        x0 = p.x0
        calls = 5000 if n <= 50 else 500 if n <= 300 else 50  # 5-10 ms a timing
        times_f, times_fg, pairs = [], [], []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                f(x0)
            middle = time.perf_counter()
            for _ in range(calls):
                fg(x0)
            end = time.perf_counter()
            times_f.append((middle - start) / calls)
            times_fg.append((end - middle) / calls)
            pairs.append((end - middle) / (middle - start))
        rows.append(
            {
                "n": n,
                "f": min(times_f),
                "f+g": min(times_fg),
                "ratio of minima": min(times_fg) / min(times_f),
                "median of pair ratios": statistics.median(pairs),
            }
        )
    return rows


if __name__ == "__main__":
    for row in main(int(sys.argv[1]) if len(sys.argv) > 1 else 30):
        print(
            f"n = {row['n']:4d}: f {row['f'] * 1e9:8.0f} ns, f+g {row['f+g'] * 1e9:8.0f} ns, "
            f"ratio of minima {row['ratio of minima']:.2f}, "
            f"median of pair ratios {row['median of pair ratios']:.2f}"
        )
