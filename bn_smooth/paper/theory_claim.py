"""Claim C6: the theory of section 4 and appendix C, from the theory table's rows
(bn_smooth.theory) and their classes (bn_smooth.paper.theory_classes)."""

from bn_smooth.paper import paper_says, theory_classes
from bn_smooth.paper.markdown import table
from bn_smooth.paper.verdicts import checklist, verdict


def claim_6(theory_rows):
    holds = [r for r in theory_rows if r["verdict"].startswith("holds")]
    false = [r for r in theory_rows if not r["verdict"].startswith("holds")]
    rows = [
        [r["statement"], r["form"], r["instances"], r["verdict"].split(";")[0]] for r in theory_rows
    ]
    body = (
        "Every statement of section 4 and appendix C on random instances in float64 "
        "(full table and notes: [theory.md](theory.md)).\n\n"
        + table(["statement", "form", "instances", "verdict"], rows)
        + "\nThe primary check: every statement is correct, or false only by a typo with "
        "an evident true form, by its class in theory.md (a missing hypothesis or a wrong "
        "proof step is neither; a proof step counts with its theorem). The others: every "
        "statement holds as printed, and Theorem 4.1 holds under its proof's assumption.\n"
    )
    classified = theory_classes.classify(theory_rows)
    classes = theory_classes.statements(classified)
    unsound = {s: k for s, k in classes.items() if k not in theory_classes.SOUND}
    printed_false = sorted({r["statement"] for r in false})
    theorem_41 = [
        r for r in holds if r["statement"] == "Theorem 4.1" and "identical-gradient" in r["form"]
    ]
    summary = (
        theory_classes.summary(classified) + "; Theorem 4.1 "
        f"{'holds with equality' if theorem_41 else 'fails'} under its proof's "
        "identical-gradient assumption; false as printed: " + ", ".join(printed_false)
    )
    parts = [
        (
            "every statement is correct or a typo with an evident true form "
            f"({len(classes) - len(unsound)} of {len(classes)} statements"
            + "".join(f"; {s}: {k}" for s, k in unsound.items())
            + ")",
            not unsound,
        ),
        ("every statement holds as printed", not false),
        (
            "Theorem 4.1 holds, with equality, under the identical-gradient assumption its "
            "proof states (dL/dy_j = dL^/dz_j); read literally, with the standard network's "
            "own gradient, it "
            + ("fails" if any(r["statement"] == "Theorem 4.1" for r in false) else "holds"),
            bool(theorem_41),
        ),
    ]
    return summary, verdict(parts), paper_says.claim_6(summary) + "\n" + body + checklist(parts)
