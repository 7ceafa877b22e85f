"""The code in the docs runs as written, and prints what the docs say it prints.

Each doc's ```python blocks run in order in one namespace (a reader types them into one session).
A line ``expression  # -> text`` is checked: ``str(expression)`` must equal ``text``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
CHECKED = re.compile(r"^(?P<code>\S.*?)\s+# -> (?P<text>.*)$")


def program(markdown: str) -> str:
    """The doc's python blocks as one program, with ``# ->`` lines turned into checks."""
    lines = []
    for block in BLOCK.findall(markdown):
        for line in block.splitlines():
            match = CHECKED.match(line)
            if match:
                code, text = match.group("code"), match.group("text")
                line = f"__check(({code}), {text!r}, {code!r})"
            lines.append(line)
    return "\n".join(lines)


def check(value: object, text: str, code: str) -> None:
    assert str(value) == text, f"docs say {code} -> {text}, but it gives {value}"


@pytest.mark.parametrize("name", ["guide.md", "ad.md"])
def test_doc_code_runs(name: str, tmp_path: Path, capsys):
    source = program((DOCS / name).read_text(encoding="utf-8"))
    assert source.strip(), f"{name} has no python blocks"
    cwd = os.getcwd()
    os.chdir(tmp_path)  # anything a snippet writes lands in a temporary directory
    try:
        exec(compile(source, str(DOCS / name), "exec"), {"__check": check, "__name__": "doc"})
    finally:
        os.chdir(cwd)


def test_checked_lines_are_found():
    # Guard against a regex that silently matches nothing.
    source = program((DOCS / "guide.md").read_text(encoding="utf-8"))
    assert source.count("__check(") >= 30
