"""The README and docs stay true to the code: the two set-up commands first, every error code
in the README, every setting in docs/settings.md, and every document the README links to exists."""

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


def test_every_local_link_in_the_readme_exists() -> None:
    targets = re.findall(r"\]\(((?!https?:|#)[^)#\s]+)", README)
    assert targets
    missing = [target for target in targets if not (REPO / target).exists()]
    assert missing == []
