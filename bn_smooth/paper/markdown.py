"""Markdown for REPORT.md and theory.md: numbers and tables, formatted one way; and the
JSON summaries that the study entrypoints write beside them, read back."""

import json
import math
from pathlib import Path


def read_summary(folder, name: str) -> dict | None:
    """The summary `name` an entrypoint wrote into `folder`, or None if it has not run there."""
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.exists() else None


def fmt(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if abs(x) >= 1e4 or (0 < abs(x) < 1e-2):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
