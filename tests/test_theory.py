"""Section 4 and appendix C: true statements hold; false printed forms keep a counterexample."""

import jax
import numpy as np
import pytest

from bn_smooth import theory
from bn_smooth.paper import theory_report

TRUE = {
    ("Fact C.1", "as printed"),
    ("Fact C.2", "as printed"),
    (
        "Theorem 4.1",
        "as proved (eq. 9), under the proof's identical-gradient assumption dL/dy = dL^/dz",
    ),
    ("Theorem 4.2 (first)", "as printed, dL/dy = dL^/dz"),
    ("Observation 4.3", "library BatchNorm, gamma = sqrt(var + eps), beta = mu"),
    ("Theorem 4.4", "corrected: squared norms, lambda^2 on every term, 1/m"),
    (
        "Theorem C.1",
        "as proved: at the proof's maximizer XX' = lambda^2 I, "
        "gamma^4/sigma^4 on the standard maximum",
    ),
    ("Lemma 4.5 scale invariance", "library BatchNorm, eps = 1e-5, a = 0.01"),
    ("Lemma 4.5", "closest optimum on the ray {a W*}, <W0, W*> > 0"),
}


@pytest.fixture(scope="module")
def rows():
    with jax.enable_x64(True):
        return theory.check_all(instances=48, seed=1, batch_sizes=(3, 32))


def by_name(rows):
    return {(r["statement"], r["form"]): r for r in rows}


def test_every_statement_is_in_the_table(rows):
    assert {(st.name, st.form) for st in theory.STATEMENTS} | {
        ("Lemma 4.5", "closest optimum on the ray {a W*}, <W0, W*> > 0")
    } == set(by_name(rows))
    table = theory_report.markdown_table(rows)
    assert table.count("\n") == len(rows) + 2


def test_the_notes_state_the_verdicts_the_rows_give(rows):
    notes = theory_report.table_notes(rows)
    assert "**Facts C.1 and C.2** hold exactly." in notes
    assert "the inequality is false (counterexamples above)." in notes
    # A row that turns the other way turns its sentence with it.
    flipped = [{**r, "violated": 3} if r["statement"] == "Fact C.2" else r for r in rows]
    assert "**Facts C.1 and C.2** do **not** both hold" in theory_report.table_notes(flipped)
    held = [
        {**r, "violated": 0} if r["form"].startswith("as printed, dL/dy of the standard") else r
        for r in rows
    ]
    assert "the inequality held on every instance here." in theory_report.table_notes(held)


@pytest.mark.parametrize("key", sorted(TRUE))
def test_true_statements_hold(rows, key):
    r = by_name(rows)[key]
    assert r["violated"] == 0 and r["max_violation"] < theory.TOLERANCE, r


@pytest.mark.parametrize(
    "key",
    [
        ("Theorem 4.1", "as printed, dL/dy of the standard network"),
        ("Theorem 4.2 (second)", "as printed, H = I (assumption exact)"),
        ("Theorem 4.2 (second)", "as printed, MLP losses (assumption approximate)"),
        ("Theorem 4.4", "as printed"),
        ("Theorem 4.4, eq. 17", "as printed (1/sqrt(m))"),
        ("Theorem C.1", "as printed (max over ||X|| <= lambda, exact)"),
        ("Theorem C.1", "as printed, H = I (Theorem 4.2's assumption exact)"),
        (
            "Theorem C.1",
            "as printed, L linear in z (H = 0): no constant on the standard maximum helps",
        ),
        ("Theorem C.1, step (58)", "max over X equals the value at XX' = lambda^2 I"),
    ],
)
def test_false_printed_forms_keep_their_counterexample(rows, key):
    r = by_name(rows)[key]
    assert r["violated"] > 0 and r["max_violation"] > 1e-3, r
    assert r["verdict"].startswith("false")


def test_batch_size_two_is_round_off_and_the_counterexample_is_genuine():
    """At m = 2 BatchNorm's gradient is identically 0, so the linear-loss C.1 check compares
    round-off with round-off: no violation there; from m = 4 the counterexamples are real."""
    linear = [st for st in theory.STATEMENTS if st.losses == ("linear",)]
    with jax.enable_x64(True):
        at_two, with_four = (
            theory.run_statements(linear, 16, seed=0, batch_sizes=sizes)[0]
            for sizes in ((2,), (2, 4))
        )
    assert at_two["violated"] == 0, at_two
    worst = with_four["worst"]
    assert with_four["violated"] > 0 and worst["m"] == 4
    assert worst["lhs"] - worst["rhs"] > 1e-6 * max(abs(worst["lhs"]), abs(worst["rhs"]))


def test_second_form_of_theorem_4_2_holds_where_the_gradient_does_not_grow(rows):
    r = by_name(rows)[("Theorem 4.2 (second)", "as printed, H = I (assumption exact)")]
    assert r["violated_when_grad_not_larger"] == 0
    assert 0 < r["grad_not_larger"] < 1  # both cases occur among the instances


def test_theorem_4_2_conditions_are_measured(rows):
    r = by_name(rows)[("Theorem 4.2 (first)", "as printed, dL/dy = dL^/dz")]
    assert r["hessian_psd"] == 1.0  # ReLU MLPs with convex losses: Gauss-Newton Hessians
    assert 0 < r["yhat_dot_ghat_positive"] <= 1


def test_scale_invariance_error_is_the_eps_effect():
    with jax.enable_x64(True):
        inst = theory.sample(jax.random.key(0), 16)
        out = theory.scale_invariance(inst, theory.quantities(inst), 0.01)
    assert np.abs(out["lhs"]).max() > 1e-4  # eps makes BN((aW)x) differ from BN(Wx) ...
    np.testing.assert_allclose(out["lhs"], out["rhs"], atol=1e-12)  # ... by exactly this


def test_fact_c1_against_a_hand_computed_batch():
    # m = 3, y = (0, 1, 2): mu = 1, sigma = sqrt(2/3), yhat = (-1, 0, 1) * sqrt(3/2).
    with jax.enable_x64(True):
        y = np.array([0.0, 1.0, 2.0])
        yhat, mu, sigma = theory.normalize(y[:, None])
        np.testing.assert_allclose(np.ravel(yhat), np.array([-1, 0, 1]) * np.sqrt(1.5))
        g = np.array([1.0, 0.0, 0.0])  # f = C(1) with gamma = 1: df/dA = dB(1)/dA
        expected = (3 * g - g.sum() - np.ravel(yhat) * (g @ np.ravel(yhat))) / (3 * sigma[0])
        jac = jax.jacobian(lambda v: theory.normalize(v[:, None])[0][0, 0])(y)
        np.testing.assert_allclose(jac, expected, rtol=1e-12)


def test_trust_region_maximum_closed_form():
    # A = diag(10, 0), ball around v/2 of radius |v|/2 with v = (1, 1)/sqrt(2): the
    # maximum is 10 (1 + sqrt 2)^2 / 8 = 3.75 + 2.5 sqrt 2, at a rank-one M, above
    # the value v'Av = 5 that M = I gives (step (58) of Theorem C.1 takes the latter).
    v = np.array([1.0, 1.0]) / np.sqrt(2)
    value = theory.max_quadratic_on_ball(np.diag([10.0, 0.0]), v / 2, 0.5)
    np.testing.assert_allclose(value, 3.75 + 2.5 * np.sqrt(2), rtol=1e-12)


def test_trust_region_maximum_is_certified_by_a_feasible_point():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = 2 + trial % 5
        a = rng.normal(size=(n, n))
        a = a @ a.T if trial % 2 else a + a.T  # PSD and indefinite
        if np.linalg.eigvalsh(a)[-1] <= 0:
            a = -a  # a positive eigenvalue: the maximum is on the sphere
        c, r = rng.normal(size=n), rng.uniform(0.2, 2.0)
        value = theory.max_quadratic_on_ball(a, c, r)
        # Upper bound: no point of the ball does better.
        s = rng.normal(size=(20000, n))
        s /= np.linalg.norm(s, axis=1, keepdims=True)
        points = c + r * s
        assert np.einsum("ij,jk,ik->i", points, a, points).max() <= value * (1 + 1e-12) + 1e-12
        # Attained: the stationary point w = nu (nu I - A)^-1 c on the sphere reaches it.
        e, q = np.linalg.eigh(a)
        cc = q.T @ c
        lo, hi = max(e[-1], 0.0) + 1e-9, max(e[-1], 0.0) + 1e6
        for _ in range(300):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.sum(cc**2 * e**2 / (mid - e) ** 2) > r * r else (lo, mid)
        w = hi * cc / (hi - e)
        np.testing.assert_allclose(np.linalg.norm(w - cc), r, rtol=1e-8)
        np.testing.assert_allclose(np.sum(e * w**2), value, rtol=1e-8)
