"""The README's "Python client" example runs against a real gateway and prints what it shows."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _blocks(section: str) -> tuple[str, str]:
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    output = section.split("```text\n", 1)[1].split("```", 1)[0]
    return code, output


def test_readme_python_client_example(gateway: Any) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python client\n", 1)[1].split("\n## ", 1)[0]
    code, expected = _blocks(section)
    assert len(code.strip().splitlines()) <= 5
    code = code.replace("http://localhost:8000", gateway.base_url)
    printed = io.StringIO()
    cwd = Path.cwd()
    os.chdir(REPO)  # the example's path is relative to the repository
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert printed.getvalue() == expected
