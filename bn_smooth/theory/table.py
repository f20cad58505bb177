"""The theory table (theory.md): each statement of section 4 and appendix C, the form it
is checked in, and its check in bn_smooth.theory.statements."""

import dataclasses
from collections.abc import Callable

from bn_smooth.theory.statements import (
    fact_c1,
    fact_c2,
    finish_c_1,
    observation_4_3,
    scale_invariance,
    theorem_4_1_identity,
    theorem_4_1_printed,
    theorem_4_2_first,
    theorem_4_2_second,
    theorem_4_4,
    theorem_c_1,
)


@dataclasses.dataclass(frozen=True)
class Statement:
    name: str
    form: str  # "as printed", "as proved", "corrected", ...
    relation: str  # "==" or "<="
    check: Callable  # instance -> dict with lhs, the rhs under `rhs`, scale
    rhs: str = "rhs"
    losses: tuple = ("xent", "l2")
    lhs: str = "lhs"
    host: Callable | None = None  # a numpy step after the compiled one, if any


STATEMENTS = (
    Statement("Fact C.1", "as printed", "==", fact_c1),
    Statement("Fact C.2", "as printed", "==", fact_c2),
    Statement(
        "Theorem 4.1",
        "as proved (eq. 9), under the proof's identical-gradient assumption dL/dy = dL^/dz",
        "==",
        theorem_4_1_identity,
    ),
    Statement(
        "Theorem 4.1", "as printed, dL/dy of the standard network", "<=", theorem_4_1_printed
    ),
    Statement("Theorem 4.2 (first)", "as printed, dL/dy = dL^/dz", "<=", theorem_4_2_first),
    Statement(
        "Theorem 4.2 (second)",
        "as printed, H = I (assumption exact)",
        "<=",
        theorem_4_2_second,
        losses=("quadratic",),
    ),
    Statement(
        "Theorem 4.2 (second)",
        "as printed, MLP losses (assumption approximate)",
        "<=",
        theorem_4_2_second,
    ),
    Statement(
        "Observation 4.3",
        "library BatchNorm, gamma = sqrt(var + eps), beta = mu",
        "==",
        observation_4_3,
    ),
    Statement(
        "Theorem 4.4",
        "corrected: squared norms, lambda^2 on every term, 1/m",
        "<=",
        theorem_4_4,
        rhs="corrected",
    ),
    Statement("Theorem 4.4", "as printed", "<=", theorem_4_4, rhs="printed"),
    Statement("Theorem 4.4, eq. 17", "as printed (1/sqrt(m))", "<=", theorem_4_4, rhs="eq17"),
    Statement(
        "Theorem C.1",
        "as printed (max over ||X|| <= lambda, exact)",
        "<=",
        theorem_c_1,
        rhs="printed",
        host=finish_c_1,
    ),
    Statement(
        "Theorem C.1",
        "as printed, H = I (Theorem 4.2's assumption exact)",
        "<=",
        theorem_c_1,
        rhs="printed",
        losses=("quadratic",),
        host=finish_c_1,
    ),
    Statement(
        "Theorem C.1",
        "as printed, L linear in z (H = 0): no constant on the standard maximum helps",
        "<=",
        theorem_c_1,
        rhs="printed",
        losses=("linear",),
        host=finish_c_1,
    ),
    Statement(
        "Theorem C.1",
        "as proved: at the proof's maximizer XX' = lambda^2 I, "
        "gamma^4/sigma^4 on the standard maximum",
        "<=",
        theorem_c_1,
        lhs="at_identity",
        rhs="as_proved",
        host=finish_c_1,
    ),
    Statement(
        "Theorem C.1, step (58)",
        "max over X equals the value at XX' = lambda^2 I",
        "==",
        theorem_c_1,
        rhs="at_identity",
        host=finish_c_1,
    ),
    Statement(
        "Lemma 4.5 scale invariance",
        "library BatchNorm, eps = 1e-5, a = 0.01",
        "==",
        lambda inst, q: scale_invariance(inst, q, 0.01),
    ),
)
