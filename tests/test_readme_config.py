"""The README's configuration table, the settings object and `rag --help` agree (docs that cannot drift)."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from rag.config import REPO, Settings


def _table() -> dict[str, str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `RAG_(\w+)` \| `([^`]*)` \|", readme, re.M))


def test_every_setting_is_documented_with_its_default():
    rows = _table()
    for f in fields(Settings):
        key = f.name.upper()
        assert key in rows, f"RAG_{key} missing from the README's configuration table"
        default = getattr(Settings(), f.name)
        if isinstance(default, bool):
            assert rows[key] == str(default).lower(), key
        elif isinstance(default, (int, float, str)):
            assert rows[key] == str(default), key
        elif isinstance(default, Path):
            assert rows[key], key


def test_every_documented_variable_exists():
    names = {f.name.upper() for f in fields(Settings)}
    assert set(_table()) <= names, set(_table()) - names


def test_help_lists_the_answer_modes_of_the_code():
    import subprocess
    import sys

    from rag.config import ANSWER_MODES

    text = " ".join(subprocess.run([sys.executable, "-m", "rag.cli", "--help"], capture_output=True, text=True,
                                   cwd=REPO).stdout.split())
    assert f"(default {Settings().answer_mode})" in text
    for mode in ANSWER_MODES:
        assert mode in text
