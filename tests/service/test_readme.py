"""The README and docs stay true to the code: the two set-up commands first, every error code
in the README, every setting in docs/settings.md, and every local file the README, the
documents in docs/ or a docstring or comment in the code refers to exists."""

from __future__ import annotations

import re
from pathlib import Path

from service.core.config import ENV_PREFIX, Settings
from service.core.errors import ERROR_CODES

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
SETTINGS_DOC = (REPO / "docs" / "settings.md").read_text()


def test_starts_with_the_two_setup_commands() -> None:
    first_block = README.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make serve", "make test"]


def test_settings_table_lists_every_setting() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", SETTINGS_DOC, flags=re.MULTILINE))
    expected = {
        "PROMETHEUS_MULTIPROC_DIR"
        if name == "prometheus_multiproc_dir"
        else ENV_PREFIX + name.upper()
        for name in Settings.model_fields
    }
    assert expected <= documented, expected - documented


def test_error_table_lists_every_code() -> None:
    for code in ERROR_CODES:
        assert f"`{code}`" in README, code


LOCAL_LINK = re.compile(r"\]\(((?!https?:|#|mailto:)[^)#\s]+)")
# A Markdown file named in code: a path with a folder (docs/x.md) or an upper-case name
# (README.md, STYLE.md); lower-case bare names are files the code writes (summary.md).
MARKDOWN_MENTION = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.md)\b")
CODE_FOLDERS = ("service", "converter", "clients", "benchmarks", "loadtests", "tools", "deploy")


def test_every_local_link_in_the_readme_exists() -> None:
    targets = LOCAL_LINK.findall(README)
    assert targets
    missing = [target for target in targets if not (REPO / target).exists()]
    assert missing == []


def test_every_local_link_in_the_docs_exists() -> None:
    """Links in ``docs/*.md`` resolve from the document's own folder, as a renderer does."""
    docs = sorted((REPO / "docs").glob("*.md"))
    assert docs
    missing = [
        f"{doc.name}: {target}"
        for doc in docs
        for target in LOCAL_LINK.findall(doc.read_text(encoding="utf-8"))
        if not (doc.parent / target).exists()
    ]
    assert missing == []


def test_every_markdown_file_named_in_the_code_exists() -> None:
    """Docstrings and comments that point at a document point at one that exists (from the
    repository root or from the module's folder)."""
    missing = []
    for folder in CODE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name.endswith("_pb2.py"):
                continue
            for name in MARKDOWN_MENTION.findall(path.read_text(encoding="utf-8")):
                if "/" not in name and not name.removesuffix(".md").isupper():
                    continue
                if not ((REPO / name).exists() or (path.parent / name).exists()):
                    missing.append(f"{path.relative_to(REPO)}: {name}")
    assert missing == []


def test_markdown_mentions_are_found() -> None:
    """The pattern above finds what it must (a check of the check)."""
    text = "see docs/model_contract.md and STYLE.md, writes summary.md (README.md)"
    assert MARKDOWN_MENTION.findall(text) == [
        "docs/model_contract.md",
        "STYLE.md",
        "summary.md",
        "README.md",
    ]
