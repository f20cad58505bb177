"""Numerical checks of section 4 and appendix C, in float64, with JAX autodiff.

- `instances`: random instances of figure 5's setup and their quantities;
- `statements`: one check per statement, and `STATEMENTS`, the table's rows;
- `trust_region`: the exact maxima Theorem C.1 needs;
- `runner`: evaluate and summarize (`check_all`).

bn_smooth/paper/theory_report.py writes the table and its notes (figures/theory.md).

The setup is figure 5: inputs X (m x d), a fully connected layer y = X W,
optionally BatchNorm z = gamma * yhat + beta with yhat = (y - mu) / sigma
(exact batch statistics, no eps), then a downstream loss L (a random MLP with
softmax cross-entropy or an l2 loss). Everything is measured for one unit j.

Notation as in the paper: g_hat = dL^/dz_j (the gradient the BN network
sees above the normalization), grad_y = dL^/dy_j, H = d2L^/dz_j2. The
paper's proofs assume the "identical loss" setup, dL^/dz_j = dL/dy_j and
equal Hessians; each check says which reading it tests.

Call the checks inside `jax.enable_x64(True)`, or `check_all_in_float64`.
"""

from bn_smooth.theory.instances import Instance, normalize, quantities, sample
from bn_smooth.theory.runner import (
    BATCH_SIZES,
    SCALE_FLOOR,
    TOLERANCE,
    check_all,
    check_all_in_float64,
    run_statements,
)
from bn_smooth.theory.statements import scale_invariance
from bn_smooth.theory.table import STATEMENTS, Statement
from bn_smooth.theory.trust_region import max_quadratic_on_ball

__all__ = [
    "BATCH_SIZES",
    "SCALE_FLOOR",
    "STATEMENTS",
    "TOLERANCE",
    "Instance",
    "Statement",
    "check_all",
    "check_all_in_float64",
    "max_quadratic_on_ball",
    "normalize",
    "quantities",
    "run_statements",
    "sample",
    "scale_invariance",
]
