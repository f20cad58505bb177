"""From measured numbers to a verdict: comparisons that rank a diverged run last, and the
checklist of a claim's parts that REPORT.md prints under each verdict."""

import math

# Training accuracy within 5 points counts as "about as well" (C2's noisy BatchNorm, C5's
# lp norms against BatchNorm).
ABOUT_AS_WELL = 0.05


def ratio(a, b) -> float:
    return a / b if b else math.inf


def higher(a, b) -> bool:
    """a > b, with a non-finite value (a diverged run) counting as the worst."""
    return math.isfinite(a) and (not math.isfinite(b) or a > b)


def lower(a, b) -> bool:
    return math.isfinite(a) and (not math.isfinite(b) or a < b)


def verdict(parts: list[tuple[str, bool]]) -> str:
    ok = [holds for _, holds in parts]
    return "confirmed" if all(ok) else "partly" if any(ok) else "not confirmed"


def checklist(parts: list[tuple[str, bool]]) -> str:
    """Each part of a claim and whether it held here: the reason behind the verdict."""
    return "\n" + "".join(
        f"- {'holds' if holds else '**fails**'}: {text}\n" for text, holds in parts
    )
