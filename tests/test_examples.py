"""Every script in examples/ runs (as a user would run it) and prints its key numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 300  # seconds; each example takes a few on a quiet machine


def run(script: str, *args: str) -> str:
    """Run ``examples/<script>`` with this interpreter; fail with its output if it fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONIOENCODING"] = "utf-8"  # traces print ẋ and v̄ whatever the locale
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{script} exited with {result.returncode}\n--- stdout ---\n{result.stdout}\n"
        f"--- stderr ---\n{result.stderr}"
    )
    return result.stdout


# Key output of each example: patterns that must appear (numbers that show it did its job).
KEYS: dict[str, list[str]] = {
    "lecture.py": [r"13\.621371043387192", r"2\.9459101490553135", r"reproduce the lecture"],
    "survey_tables.py": [
        r"y\s+= 11\.652",
        r"gradient = \(5\.500, 1\.716\)",
        r"x̄1\s+= v̄_-1\s+= 5\.5",
    ],
    "logistic_swell.py": [r"\| 50 \| 246 \| 150 \|", r"largest ratio"],
    "backprop.py": [r"delta rule: max abs difference", r"accuracy: train"],
    "helmholtz.py": [r"^\s+50\s+-763\.479498"],
    "newton_rosenbrock.py": [r"error is squared", r"gradient descent takes \d+x"],
    "truncated_newton.py": [r"0 nodes of shape \(100, 100\)", r"Hessian-vector products"],
    "helmholtz_hessian.py": [r"within issue 4's bounds"],
    "dask_gradient.py": [
        r"gradient matches finite differences",
        r"1 worker : loss and gradient in \d+ ms .* equal to one process's",
        r"2 workers: loss and gradient in \d+ ms .* loaded by the workers in [\d.]+ ms \(pickle\)",
        r"gradient descent on the cluster",
    ],
    "gaussian_loglik.py": [
        r"numpy formulas at 5 random points: .*: agree",
        r"maximum likelihood: reached",
    ],
    "logistic_loop.py": [r"code size independent of n: True", r"r = 3\.5: l = 0\.3828196830"],
    "ode_sensitivity.py": [r"max relative difference\s+\d\.\de-(0[6-9]|1\d)"],
    "rnn_bptt.py": [r"identical training curves: True"],
}


def backprop_learns(out: str) -> None:
    first, last = map(float, re.search(r"E: ([\d.]+) -> ([\d.]+)", out).groups())
    test_accuracy = float(re.search(r"test ([\d.]+)%", out).group(1))
    assert last < 0.1 * first and test_accuracy > 90


def hvp_jvp_within_bounds(out: str) -> None:
    jvp, hvp = map(float, re.search(r"jvp ([\d.]+)x f .* hvp ([\d.]+)x f", out).groups())
    assert jvp <= 3 and hvp <= 5  # issue 4's cost bounds after gc.optimize


def rnn_learns(out: str) -> None:
    fraction = float(re.search(r"\(([\d.]+)% of the start\)", out).group(1))
    assert fraction < 5  # BPTT through gc.scan trains the RNN


CHECKS = {
    "backprop.py": backprop_learns,
    "helmholtz_hessian.py": hvp_jvp_within_bounds,
    "rnn_bptt.py": rnn_learns,
}


def test_every_example_has_a_check():
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    # demo.py belongs to the README's quick start; it is run below when it exists.
    assert scripts - {"demo.py"} <= set(KEYS), f"add KEYS for {scripts - set(KEYS)}"


@pytest.mark.parametrize("script", sorted(KEYS))
def test_example_runs(script: str):
    out = run(script)
    for pattern in KEYS[script]:
        assert re.search(pattern, out, re.MULTILINE), f"{script}: no {pattern!r} in\n{out}"
    assert "FAILED" not in out
    if script in CHECKS:
        CHECKS[script](out)


def test_demo_runs():
    if not (EXAMPLES / "demo.py").exists():
        pytest.skip("examples/demo.py does not exist yet")
    run("demo.py")


def test_logistic_swell_ratio_and_markdown(tmp_path: Path):
    target = tmp_path / "swell.md"
    out = run("logistic_swell.py", "--n", "4", "10", "50", "--markdown", str(target))
    ratio = float(re.search(r"largest ratio .*: ([\d.]+) at n", out).group(1))
    assert ratio <= 2.5  # issue 2: [l, dl/dx] optimized at most 2.5x l(n) optimized
    text = target.read_text(encoding="utf-8")
    assert "| 50 | 246 | 150 | 492 | 344 |" in text and "CasADi" in text


def test_docs_ad_is_generated_and_up_to_date():
    # docs/ad.md's traces come from gc.trace; this fails if graphc's output changed and the doc
    # was not regenerated (python examples/survey_tables.py --markdown docs/ad.md).
    run("survey_tables.py", "--markdown", "docs/ad.md", "--check")
