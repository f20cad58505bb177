"""Check every formal statement of section 4 and appendix C numerically.

    python -m experiments.theory --instances=1000 --out=figures/theory.md

Prints the table and writes it, with what each verdict means, to --out.
"""

import platform
import time
from pathlib import Path

import jax
from absl import app, flags

from bn_smooth import theory

_INSTANCES = flags.DEFINE_integer("instances", 1000, "Random instances per statement.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the instances.")
_OUT = flags.DEFINE_string("out", "figures/theory.md", "Where to write the table.")

NOTES = """
## Reading the table

Setup of section 4.1 and figure 5: X (m x d) -> y = XW -> BatchNorm (exact batch
statistics) -> z = gamma * yhat + beta -> a downstream loss (a random two-layer
ReLU MLP with softmax cross-entropy or an l2 loss; `quadratic` is
1/2 ||z - t||^2). Batch sizes m = 2, 4, ..., 256; random gamma, beta, W, X;
float64 and JAX autodiff. A violation is (lhs - rhs) divided by the size of
the terms on that instance; anything above 1e-8 counts.

- **Facts C.1 and C.2** hold exactly.
- **Theorem 4.1.** The proof (eqs. 3-9) establishes an *equality*,
  ||dL^/dy_j||^2 = gamma^2/sigma_j^2 (||g||^2 - <1,g>^2/m - <g,yhat_j>^2/m) with
  g = dL^/dz_j, the gradient the BN network sees above the normalization; the
  printed inequality is then the equality under the setup's assumption
  dL^/dz_j = dL/dy_j. Read literally, with dL/dy_j the gradient of the
  standard network at its own activations, the inequality is false (counterexamples above).
- **Theorem 4.2, first statement**, holds, and with equality: along g = dL^/dy_j,
  which is orthogonal to 1 and yhat_j, the Hessian through BatchNorm is exactly
  gamma^2/sigma^2 g'Hg - gamma/(m sigma^2) <g_hat, yhat> ||g||^2. Its sign
  conditions (H PSD, <yhat, g_hat> > 0) are not needed for the identity; they
  only make the separation term a reduction.
- **Theorem 4.2, second statement**, is false as printed even when its extra
  assumption holds exactly (a quadratic loss, H = I, so every direction has the
  same Rayleigh quotient): it then reduces to ||dL^/dy_j|| <= ||g_hat||, which
  fails when gamma > sigma_j. The table counts the violations among the
  instances where ||dL^/dy_j|| <= ||g_hat|| (implied by gamma <= sigma_j, via
  Theorem 4.1), the condition under which the statement follows.
- **Observation 4.3** holds on the library's BatchNorm (gamma = sqrt(var + eps), beta = mu).
- **Theorem 4.4.** With the activation gradients held fixed, as the proof does,
  max_{||X|| <= lambda} ||X^T v||^2 = lambda^2 ||v||^2. The true form is
  g_hat_j <= gamma^2/sigma_j^2 (g_j - lambda^2 m mu_g^2 - lambda^2 <dL/dy_j, yhat_j>^2 / m)
  with g_j, g_hat_j the maxima of the *squared* gradient norms (an equality
  under the identical-loss reading). The printed statement (g_j^2, no lambda^2
  on the mean term, no 1/m on the last) and eq. 17 (1/sqrt(m) where eq. 9 gives
  1/m) are false.
- **Lemma 4.5** holds with equality for the closest BN optimum on the ray
  {a W*, a > 0} (BatchNorm is scale invariant, so the whole ray is optimal);
  scale invariance BN((aW)x) = BN(Wx) holds on the library's BatchNorm up to
  exactly the difference its eps predicts.
- **Theorem C.1** (minimax smoothness). With the activation-space gradient
  and Hessian held fixed, as its proof does, the quantity is (Mv)'A(Mv) with
  M = XX' and 0 <= M <= lambda^2 I; {Mv} is exactly the ball
  ||w - lambda^2 v/2|| <= lambda^2 ||v||/2, so both maxima are trust-region
  problems, solved exactly here (S-lemma dual, bisection; primal points
  certify the value in the tests). Step (58) of the proof takes the maximum to
  be the value at XX' = lambda^2 I, which is only a lower bound, and the
  printed bound fails on many instances, including ones where H is PSD and
  <yhat, g_hat> > 0 (see the counts in the table).
"""


def main(argv):
    del argv
    start = time.time()
    with jax.enable_x64(True):
        rows = theory.check_all(_INSTANCES.value, _SEED.value)
    table = theory.markdown_table(rows)
    seconds = time.time() - start
    print(table)
    print(f"{len(rows)} statements, {_INSTANCES.value} instances each, {seconds:.0f} s")
    header = (f"# Section 4 and appendix C, checked numerically\n\n"
              f"`python -m experiments.theory --instances={_INSTANCES.value} --seed={_SEED.value}`"
              f" ({seconds:.0f} s on {platform.machine()}, jax {jax.__version__}).\n\n")
    out = Path(_OUT.value)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + table + NOTES)


if __name__ == "__main__":
    app.run(main)
