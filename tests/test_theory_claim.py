"""Claim C6 (bn_smooth.paper.theory_claim): the theory of section 4 and appendix C, judged
by each statement's class (bn_smooth.paper.theory_classes) on hand-written table rows."""

from bn_smooth.paper import claims, theory_classes
from tests.test_claims import failing


def theory_row(statement, form, verdict_text):
    return {"statement": statement, "form": form, "instances": 10, "verdict": verdict_text}


FACT = theory_row("Fact C.1", "as printed", "holds (equality)")
THM_41 = [
    theory_row(
        "Theorem 4.1", "as proved (eq. 9), under the identical-gradient assumption", "holds"
    ),
    theory_row("Theorem 4.1", "as printed, dL/dy of the standard network", "false: 3/10 violated"),
]
THM_44 = [
    theory_row("Theorem 4.4", "corrected: squared norms", "holds"),
    theory_row("Theorem 4.4", "as printed", "false: 9/10 violated"),
]
STEP_58 = theory_row("Theorem C.1, step (58)", "max over X", "false: 8/10 violated")


def test_c6_primary_check_is_each_statements_class():
    # Only correct statements: confirmed; no Theorem 4.1 row, so that secondary fails.
    assert claims.claim_6([FACT])[1] == "confirmed, but 1 of 2 secondary checks fail"
    # A typo with an evident true form: still confirmed, but false as printed.
    result = claims.claim_6([FACT, *THM_44])
    assert result[1] == "confirmed, but 2 of 2 secondary checks fail"
    assert "every statement holds as printed" in failing(result)
    # A missing hypothesis decides alone, whatever holds under the proof's assumption.
    result = claims.claim_6([FACT, *THM_44, *THM_41])
    assert result[1] == "not confirmed"
    assert "Theorem 4.1: a missing hypothesis" in failing(result)[0]
    assert "read literally, with the standard network's own gradient, it fails" in result[2]
    assert not any(f.startswith("Theorem 4.1 holds") for f in failing(result))
    # A wrong proof step counts with its theorem, not as a statement of its own.
    result = claims.claim_6([FACT, STEP_58])
    assert result[1] == "not confirmed" and "(1 of 2 statements; Theorem C.1:" in failing(result)[0]
    # A class the rows do not bear out is not sound either.
    assert claims.claim_6([FACT, THM_44[0]])[1] == "not confirmed"


def test_c6_classifies_each_statement_and_checks_the_class_against_the_rows():
    rows = [
        theory_row("Fact C.1", "as printed", "holds (equality)"),
        theory_row("Theorem 4.1", "as proved (eq. 9)", "holds (equality)"),
        theory_row("Theorem 4.1", "as printed, dL/dy", "false: 3/10 violated"),
        theory_row("Theorem 4.4", "corrected: squared norms", "holds"),
        theory_row("Theorem 4.4", "as printed", "false: 9/10 violated"),
        theory_row(
            "Theorem 4.2 (second)",
            "as printed, H = I",
            "false: 2/10 violated; 0 violated where norm(dL^/dy) <= norm(g_hat) (90% of "
            "instances); H PSD on 100% (1 violations among those)",
        ),
    ]
    classes = {c["statement"]: c for c in theory_classes.classify(rows)}
    assert classes["Fact C.1"]["class"] == theory_classes.CORRECT
    assert classes["Theorem 4.1"]["class"] == theory_classes.HYPOTHESIS
    assert classes["Theorem 4.4"]["class"] == theory_classes.TYPO
    assert (
        "0 violated where norm(dL^/dy) <= norm(g_hat)"
        in classes["Theorem 4.2 (second)"]["evidence"]
    )
    assert "1 within its sign conditions" in classes["Theorem 4.2 (second)"]["evidence"]
    # A class the rows do not bear out says so: a "typo" whose corrected form fails.
    rows[3] = theory_row("Theorem 4.4", "corrected: squared norms", "false: 1/10 violated")
    fixed = {c["statement"]: c for c in theory_classes.classify(rows)}["Theorem 4.4"]
    assert fixed["class"].startswith("**not as classified**")
    assert theory_classes.summary(theory_classes.classify(rows[:3])) == (
        "1 correct; 1 a missing hypothesis (Theorem 4.1)"
    )
