"""The exit code for a held lock agrees with the code in the README's and docs/usage.md's
tables and in the prose of the README and every page of docs/."""

from __future__ import annotations

import re
from pathlib import Path

from jobs.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = "\n\n".join(page.read_text(encoding="utf-8") for page in PAGES)
_CONCURRENT = re.compile(r"\block\b|another sync|a second `arsync|by hand while", re.IGNORECASE)
_EXIT = re.compile(r"\bexits? (?:with )?`?(\d)`?")


def _sentences() -> list[str]:
    """README prose as sentences, each paragraph's lines joined (tables and code left out)."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", README):
        if paragraph.lstrip().startswith(("|", "```")):
            continue
        flat = " ".join(line.strip() for line in paragraph.splitlines())
        sentences += re.split(r"(?<=[.:])\s+(?=[A-Z(`*-])", flat)
    return sentences


def test_the_exit_code_tables_give_the_lock_the_code_the_cli_uses() -> None:
    rows = [line for line in README.splitlines() if re.match(r"\| `\d` \|.*\block\b", line)]

    assert len(rows) == 2  # the README's short table and docs/usage.md's full one
    for row in rows:
        assert row.startswith(f"| `{int(ExitCode.LOCKED)}` |")


def test_every_sentence_about_the_lock_names_the_same_exit_code() -> None:
    about_the_lock = [s for s in _sentences() if _CONCURRENT.search(s) and _EXIT.search(s)]

    assert len(about_the_lock) >= 3, about_the_lock  # the lock section and the worker's two
    for sentence in about_the_lock:
        assert set(_EXIT.findall(sentence)) == {str(int(ExitCode.LOCKED))}, sentence
