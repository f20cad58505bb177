"""A mutation of the mutation check (tests/mutation_check.py), and the tests the mutations
name."""

import dataclasses

AGREEMENT = "tests/test_agreement.py"
CLAIMS = "tests/test_claims.py"
THEORY_CLAIM = "tests/test_theory_claim.py"
ICS_CLAIMS = "tests/test_ics_claims.py"
PAPER_DATA = "tests/test_paper_data.py"
NORMS = "tests/test_norms.py"
LANDSCAPE_ROW = "tests/test_probe_rows.py::test_landscape_row_is_a_line_search_of_its_steps_loss"
CURVATURE_ROW = (
    "tests/test_probe_rows.py::test_curvature_row_is_the_whole_hessian_of_its_steps_loss"
)
FORWARD = "tests/test_reference.py::test_vgg_training_loss_is_the_reference_forward_pass"
DLN_LOSS = (
    "tests/test_reference.py::test_dln_loss_is_the_summed_squared_error_of_the_matrix_product"
)
INIT = "tests/test_reference.py::test_vgg_initialization_is_glorot_uniform_with_zero_biases"
EVALUATION = "tests/test_reference.py::test_evaluation_is_the_test_split_on_the_running_averages"
FRESH_NOISE = "tests/test_reference.py::test_training_draws_fresh_noise_at_every_step"
SUITE_RUNS = (
    "tests/test_suite_config.py::test_each_suite_run_trains_what_its_name_and_the_claims_say"
)
MISSING_RUNS = (
    "tests/test_reproduce.py::test_figures_and_claims_read_suite_runs_and_name_the_ones_missing"
)
USER_ERRORS = (
    "tests/test_train.py::test_entrypoints_report_input_errors_in_one_line_and_let_bugs_through"
)


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    what: str  # the mistake, in words
    file: str
    edits: tuple[tuple[str, str], ...]  # (code, its replacement): each code occurs once
    tests: tuple[str, ...]  # pytest node ids aimed at it


def mutation(name, what, file, old, new, *tests) -> Mutation:
    return Mutation(name, what, file, ((old, new),), tests)
