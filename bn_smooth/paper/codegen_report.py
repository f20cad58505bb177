"""Two code-generation settings side by side (experiments.codegen_check): every claim's
verdict under both, and how far each number of REPORT.md's agreement table moved."""

from bn_smooth.paper import agreement
from bn_smooth.paper.claims import CLAIMS
from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.panels import missing
from bn_smooth.paper.verdicts import NOT_MEASURED


def verdicts(runs) -> dict[str, tuple[str, str]]:
    """{claim: (verdict, summary)} of every claim its runs allow and measure (not the
    theory's, nor C8's, whose sweep no suite workdir holds)."""
    out = {}
    for cid, _, _, _, fn, needs in CLAIMS:
        if needs != "theory" and not missing(fn, runs):
            summary, verdict, _ = fn(*((runs,) if needs == "runs" else (runs, None)))
            if verdict != NOT_MEASURED:
                out[cid] = (verdict, summary)
    return out


def compare(a: dict, b: dict, labels) -> str:
    """The markdown of two settings' verdicts and agreement rows."""
    va, vb = verdicts(a), verdicts(b)
    claim_rows = [
        [cid, va[cid][0], vb[cid][0], "same" if va[cid][0] == vb[cid][0] else "**moved**"]
        for cid in va
        if cid in vb
    ]
    rows_a = {(r.figure, r.quantity, r.where): r for r in agreement.all_rows(a)}
    rows_b = {(r.figure, r.quantity, r.where): r for r in agreement.all_rows(b)}
    number_rows = [
        [
            *key[:2],
            fmt(ra.ours),
            fmt(rows_b[key].ours),
            _moved(ra, rows_b[key]),
            "yes" if ra.agrees == rows_b[key].agrees else "**no**",
        ]
        for key, ra in rows_a.items()
        if key in rows_b
    ]
    moved = sum(r[3] == "**moved**" for r in claim_rows)
    return (
        f"# Two code-generation settings: {labels[0]} and {labels[1]}\n\n"
        f"Compared on the {len(a)} runs both trained to the end.\n\n"
        f"{len(claim_rows) - moved} of {len(claim_rows)} verdicts are the same under both.\n\n"
        + table(["claim", labels[0], labels[1], ""], claim_rows)
        + "\nWhat each claim measures (REPORT.md's summary column), under both:\n\n"
        + table(["claim", labels[0], labels[1]], [[c, va[c][1], vb[c][1]] for c in va if c in vb])
        + "\nEvery number of REPORT.md's agreement table (ours), under both settings:\n\n"
        + table(
            ["figure", "quantity", labels[0], labels[1], "moved", "same agreement"], number_rows
        )
    )


def _moved(a, b) -> str:
    if a.kind == "factor":
        return f"{fmt(b.ours / a.ours)}x" if a.ours else "-"
    return f"{b.ours - a.ours:+.2f}"
