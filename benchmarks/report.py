"""Regenerates the measured parts of ``docs/performance.md`` and the plots from the JSON results.

The document is hand-written prose with generated blocks between markers::

    <!-- BEGIN helmholtz-survey -->
    ...generated table...
    <!-- END helmholtz-survey -->

Each problem module renders the blocks it owns from its latest ``results/NAME.json``; the
``machine`` block describes where and when those results were measured. Anything outside the
markers is left as it is, so the analysis can be written by hand next to the numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import problems
from harness import Context


def load_results(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in problems.ORDER:
        path = directory / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def machine_block(results: dict[str, dict[str, Any]]) -> str:
    if not results:
        return "(no results yet)\n"
    latest = max(results.values(), key=lambda r: r.get("date", ""))
    m = latest["machine"]
    lines = [
        f"- CPU: {m['cpu']} (LLVM host CPU `{m['llvm_cpu']}`, AVX-512: "
        f"{'yes' if m['avx512'] else 'no'}), {m['cores']} vCPUs, {m['platform']}",
        f"- C compiler: {m['c_compiler']}, flags `-O3 -march=native -shared -fPIC`",
        "- Threads: "
        + ", ".join(f"`{k}={v}`" for k, v in m["threads"].items() if k != "torch")
        + f", `{m['threads']['torch']}`",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "- Measured (problem, graphc's git revision, date, duration, load average before -> "
        "after): "
        + "; ".join(
            f"{name} at `{r['machine'].get('graphc_revision', '?')}` {r.get('date', '?')} "
            f"({r.get('elapsed_seconds', 0):.0f} s, load "
            f"{_load(r.get('load_average_before', r['machine'].get('load_average')))} -> "
            f"{_load(r.get('load_average_after'))})"
            for name, r in results.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _load(values: Any) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "?"


def replace_block(text: str, name: str, body: str) -> tuple[str, bool]:
    pattern = re.compile(
        rf"(<!-- BEGIN {re.escape(name)} -->\n).*?(<!-- END {re.escape(name)} -->)", re.S
    )
    if not pattern.search(text):
        return text, False
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text), True


def update(doc: Path, images: Path, results_dir: Path, ctx: Context) -> None:
    """Rewrite every block of ``doc`` that has results, and the plots, from ``results_dir``."""
    results = load_results(results_dir)
    text = doc.read_text()
    blocks = {"machine": machine_block(results)}
    for name, result in results.items():
        blocks.update(problems.load(name).render(result))
    for name, body in blocks.items():
        text, found = replace_block(text, name, body)
        if not found:
            ctx.log(f"  docs/performance.md has no block {name!r}: not written")
    doc.write_text(text)
    matplotlib = ctx.peer("matplotlib")
    if matplotlib is None:
        ctx.log("  skipping the plots: matplotlib is not installed")
        return
    import matplotlib.pyplot as plt

    images.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        module = problems.load(name)
        if hasattr(module, "plot"):
            module.plot(result, images, plt)
