"""The statements of section 4 and appendix C classified, not counted: correct; a typo with
an evident true form; a missing hypothesis (with the hypothesis under which it holds and
the violations under it); a wrong proof step with a genuine counterexample.

Each statement's class is declared here (a reading of the paper) with the forms of the
theory table that must bear it out; `classify` checks that the measured rows do, and says
so where they do not. Violations on instances that break a statement's own hypothesis
(H PSD, <yhat, g_hat> > 0) are "outside the hypothesis", not counterexamples.
"""

import re

CORRECT = "correct"
TYPO = "a typo with an evident true form"
HYPOTHESIS = "a missing hypothesis"
PROOF = "a wrong proof step, with a genuine counterexample"

# statement: (class, the form that must hold, the form that must fail, what the class means)
CLASSES = {
    "Fact C.1": (CORRECT, "as printed", None, ""),
    "Fact C.2": (CORRECT, "as printed", None, ""),
    "Theorem 4.1": (
        HYPOTHESIS,
        "as proved",
        "as printed",
        "holds, with equality, under its proof's assumption dL/dy_j = dL^/dz_j",
    ),
    "Theorem 4.2 (first)": (CORRECT, "as printed", None, ""),
    "Theorem 4.2 (second)": (
        HYPOTHESIS,
        None,
        "as printed, H = I",
        "follows where ||dL^/dy_j|| <= ||g_hat|| (implied by gamma <= sigma_j)",
    ),
    "Observation 4.3": (CORRECT, "library BatchNorm", None, ""),
    "Theorem 4.4": (
        TYPO,
        "corrected",
        "as printed",
        "squared norms, lambda^2 on every term, 1/m (eq. 17's 1/sqrt(m) too)",
    ),
    "Theorem 4.4, eq. 17": (
        TYPO,
        None,
        "as printed",
        "its 1/sqrt(m) is the corrected Theorem 4.4's 1/m",
    ),
    "Theorem C.1": (
        PROOF,
        "as proved",
        "as printed, L linear",
        "step (58) takes the maximum over X at XX' = lambda^2 I; a loss linear in z "
        "(H = 0) breaks the printed bound",
    ),
    "Theorem C.1, step (58)": (
        PROOF,
        None,
        "max over X",
        "the proof's step, false on most instances",
    ),
    "Lemma 4.5 scale invariance": (CORRECT, "library BatchNorm", None, ""),
    "Lemma 4.5": (CORRECT, "closest optimum", None, ""),
}


def _row(rows, statement: str, form: str | None):
    return next(
        (r for r in rows if r["statement"] == statement and form and r["form"].startswith(form)),
        None,
    )


def _holds(row) -> bool:
    return row is not None and row["verdict"].startswith("holds")


def _under_hypothesis(rows, statement: str) -> str:
    """Violations counted where the statement's hypothesis (or the condition it follows
    from) holds, as the theory table's verdicts report them."""
    found = []
    for r in rows:
        if r["statement"] != statement:
            continue
        where = re.search(r"(\d+) violated where (.+?) \((\d+)% of instances\)", r["verdict"])
        among = re.search(r"\((\d+) violations among those\)", r["verdict"])
        if where:
            found.append(f"{r['form']}: {where[1]} violated where {where[2]}")
        if among:
            found.append(f"{r['form']}: {among[1]} within its sign conditions")
    return "; ".join(found)


def classify(rows) -> list[dict]:
    """{statement, class, evidence} per statement of the table, in order."""
    out = []
    for statement in dict.fromkeys(r["statement"] for r in rows):
        if statement not in CLASSES:
            out.append({"statement": statement, "class": "not classified", "evidence": ""})
            continue
        kind, must_hold, must_fail, meaning = CLASSES[statement]
        held, failed = _row(rows, statement, must_hold), _row(rows, statement, must_fail)
        ok = (must_hold is None or _holds(held)) and (
            must_fail is None or (failed is not None and not _holds(failed))
        )
        evidence = [meaning] if meaning else []
        if failed is not None:
            evidence.append(f"{failed['form']}: {failed['verdict'].split(';')[0]}")
        counted = _under_hypothesis(rows, statement)
        if counted:
            evidence.append(counted)
        out.append(
            {
                "statement": statement,
                "class": kind if ok else f"**not as classified** ({kind})",
                "evidence": "; ".join(evidence) or "holds as printed",
            }
        )
    return out


# A statement the paper's text needs no more than a typo's correction for.
SOUND = (CORRECT, TYPO)


def statements(classes: list[dict]) -> dict[str, str]:
    """statement -> its class, a part of a statement ("Theorem C.1, step (58)") counted
    with its statement: the statement's own class unless a part's is other."""
    out = {}
    for c in classes:
        name = c["statement"].split(",")[0]
        if out.get(name, c["class"]) != c["class"]:
            out[name] = "**not as classified** (its parts differ)"
        else:
            out[name] = c["class"]
    return out


def summary(classes: list[dict]) -> str:
    """'5 correct; 1 a typo ... (Theorem 4.4); ...', per statement (parts folded in)."""
    by_class = {}
    for statement, kind in statements(classes).items():
        by_class.setdefault(kind, []).append(statement)
    return "; ".join(
        f"{len(names)} {kind}" + ("" if kind == CORRECT else f" ({', '.join(names)})")
        for kind, names in by_class.items()
    )
