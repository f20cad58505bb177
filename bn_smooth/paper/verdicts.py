"""From measured numbers to a verdict: comparisons that rank a diverged run last, and the
checklist of a claim's parts that REPORT.md prints under each verdict."""

import math

# Training accuracy within 5 points counts as "about as well" (C2's noisy BatchNorm, C5's
# lp norms against BatchNorm).
ABOUT_AS_WELL = 0.05
NOT_MEASURED = "not measured"  # the verdict of a claim whose runs or study are missing


def ratio(a, b) -> float:
    return a / b if b else math.inf


def higher(a, b) -> bool:
    """a > b, with a non-finite value (a diverged run) counting as the worst."""
    return math.isfinite(a) and (not math.isfinite(b) or a > b)


def lower(a, b) -> bool:
    return math.isfinite(a) and (not math.isfinite(b) or a < b)


def verdict(parts: list[tuple[str, bool]]) -> str:
    """The first part is the claim's primary check, which alone decides confirmed or not
    confirmed; the others qualify a confirmation ("confirmed, but ...")."""
    (_, primary), *secondary = parts
    if not primary:
        return "not confirmed"
    failing = sum(not holds for _, holds in secondary)
    return (
        f"confirmed, but {failing} of {len(secondary)} secondary checks fail"
        if failing
        else "confirmed"
    )


def checklist(parts: list[tuple[str, bool]]) -> str:
    """Each part of a claim, the primary check first, and whether it held here: the reason
    behind the verdict."""
    return "\n" + "".join(
        f"- {'holds' if holds else '**fails**'}{' (primary)' if i == 0 else ''}: {text}\n"
        for i, (text, holds) in enumerate(parts)
    )


def three_lines(text: str, figure: str, measured: str) -> str:
    """What the paper's text says, what its figure shows, what we measure."""
    return (
        f"- **The paper's text:** {text}\n"
        f"- **Its figure** (arXiv v3, read from the PDF): {figure}\n"
        f"- **We measure:** {measured}\n"
    )
