"""Rewrite the settings table in README.md from foundation.settings (the test fails when it is stale)."""

from pathlib import Path

from foundation.settings import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->\n", "\n<!-- settings:end -->"

text = README.read_text()
head, rest = text.split(START, 1)
tail = rest.split(END, 1)[1]
README.write_text(head + START + settings_table() + END + tail)
print(f"updated {README}")
