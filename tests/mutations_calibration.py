"""The mutation check's mistakes in the calibration at the paper's width: its gate and its
comparison with the paper's figures 1 and 4 (bn_smooth/paper/calibration.py).
"""

from tests.mutation import mutation

MUTATIONS = [
    mutation(
        "calibration-one-point",
        "the calibration gate reads the paper's one plotted minibatch at the step",
        "bn_smooth/paper/calibration.py",
        "if abs(x - step) <= WINDOW and x <= last",
        "if abs(x - step) <= 0 and x <= last",
        "tests/test_calibration.py",
    ),
    mutation(
        "calibration-ceiling-one-step",
        "the calibration gate's ceiling at lr 0.5 applies to single minibatches",
        "bn_smooth/paper/calibration.py",
        "blocks = [values[i : i + WINDOW] for i in range(0, len(values), WINDOW)]",
        "blocks = [values[i : i + 1] for i in range(len(values))]",
        "tests/test_calibration.py",
    ),
    mutation(
        "calibration-ratio-of-medians",
        "the calibration's ratio standard / BatchNorm is of medians, not per step",
        "bn_smooth/paper/calibration.py",
        "ours=float(np.median(ratio)),",
        "ours=float(np.median(pair[0][key]) / np.median(pair[1][key])),",
        "tests/test_calibration.py",
    ),
    mutation(
        "calibration-not-cited",
        "REPORT.md leaves out the calibration at the paper's width",
        "bn_smooth/paper/report.py",
        "calibration = calibration_report.load(path.parent)",
        "calibration = None",
        "tests/test_reproduce.py::test_smoke_suite_draws_every_figure_and_reports_every_claim",
    ),
    mutation(
        "calibration-candidate-is-base",
        "the experiments on the gap read VGG-11's accuracy as the changed network's",
        "bn_smooth/paper/calibration.py",
        'changed=accuracy_near(runs[f"{candidate}_{base.norm}"], early_step),',
        "changed=accuracy_near(base, early_step),",
        "tests/test_calibration.py",
    ),
    mutation(
        "head-init-ignored",
        "the VGG's head is Glorot-initialized whatever head_init says",
        "bn_smooth/models.py",
        "kernel_init=HEAD_INITS[self.head_init]",
        'kernel_init=HEAD_INITS["glorot"]',
        "tests/test_models.py",
    ),
    mutation(
        "unit-inputs-ignored",
        "inputs=unit standardizes the pixels all the same",
        "bn_smooth/tasks.py",
        'if config.get("inputs", "standardized") == "unit":',
        'if config.get("inputs", "standardized") == "units":',
        "tests/test_data.py",
    ),
    mutation(
        "calibration-not-in-agreement",
        "REPORT.md's agreement table leaves out the rows at the paper's width",
        "bn_smooth/paper/report.py",
        "+ (calibration_report.agreement_rows(calibration) if calibration else [])",
        "+ []",
        "tests/test_reproduce.py::test_smoke_suite_draws_every_figure_and_reports_every_claim",
    ),
]
