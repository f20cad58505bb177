"""The rules behind REPORT.md's verdicts, and the claims of the paper's section 2 (C1-C3),
on hand-written runs.

Each claim is first given runs on which every part of it holds ("confirmed"), then one
number at a time is moved just across its threshold: the part it decides must fail, and
only it ("partly"). A flipped comparison or a moved threshold fails here, not silently in
the report.
"""

import math

import pytest

from bn_smooth import summaries
from bn_smooth.paper import claims, verdicts
from bn_smooth.paper.verdicts import checklist, higher, lower, ratio, verdict
from tests.claim_runs import check_one_part_fails, failing, make_run, parts_of

# ---------------------------------------------------------------------------
# The helpers every claim uses


def test_the_primary_check_alone_decides_and_the_others_qualify():
    assert verdict([("a", True), ("b", True), ("c", True)]) == "confirmed"
    assert verdict([("a", True), ("b", False), ("c", True)]) == (
        "confirmed, but 1 of 2 secondary checks fail"
    )
    assert verdict([("a", False), ("b", True), ("c", True)]) == "not confirmed"
    assert verdict([("a", False), ("b", False)]) == "not confirmed"
    assert verdict([("a", True)]) == "confirmed"


def test_checklist_prints_each_part_the_primary_first_and_whether_it_held():
    assert checklist([("a > b", True), ("c < d", False)]) == (
        "\n- holds (primary): a > b\n- **fails**: c < d\n"
    )
    assert parts_of(checklist([("x", False), ("y", True)])) == [("x", False), ("y", True)]


def test_comparisons_rank_a_diverged_run_last_and_a_tie_as_no_lead():
    assert higher(0.6, 0.5) and not higher(0.5, 0.6) and not higher(0.5, 0.5)
    assert lower(0.5, 0.6) and not lower(0.6, 0.5) and not lower(0.5, 0.5)
    assert higher(0.1, math.nan) and not higher(math.nan, 0.1) and not higher(math.nan, math.nan)
    assert lower(1e9, math.inf) and not lower(math.inf, 1.0)
    assert ratio(6.0, 3.0) == 2.0 and ratio(1.0, 0.0) == math.inf


# ---------------------------------------------------------------------------
# C1: BatchNorm trains faster


def c1_runs(**changes):
    """BatchNorm ahead at step 20 and at the end, at both learning rates, and the standard
    network at lr 0.5 near chance, as in figure 1; `changes` {run name: make_run keyword
    arguments} override."""
    spec = {
        "vgg_none": ("none", 0.1, (0.3, 0.6)),
        "vgg_batch": ("batch", 0.1, (0.4, 0.7)),
        "vgg_none_lr0.5": ("none", 0.5, (0.1, 0.15)),
        "vgg_batch_lr0.5": ("batch", 0.5, (0.4, 0.7)),
    }
    return {
        name: make_run(name, norm, lr, **{"accuracy": acc, **changes.get(name, {})})
        for name, (norm, lr, acc) in spec.items()
    }


def test_c1_confirmed_when_batchnorm_leads_early_and_late_at_both_learning_rates():
    result = claims.claim_1(c1_runs())
    assert result[1] == "confirmed" and not failing(result)
    assert len(parts_of(result[2])) == 5


@pytest.mark.parametrize(
    "name, accuracy, part",
    [
        ("vgg_batch", (0.3, 0.7), "BatchNorm ahead at step 20, lr 0.1"),  # a tie early
        ("vgg_batch", (0.4, 0.59), "BatchNorm ahead at the end, lr 0.1"),
        ("vgg_none_lr0.5", (0.45, 0.15), "BatchNorm ahead at step 20, lr 0.5"),
        ("vgg_batch_lr0.5", (0.4, 0.15), "BatchNorm ahead at the end, lr 0.5"),
        ("vgg_none_lr0.5", (0.1, 0.21), "as in figure 1, the standard network at lr 0.5"),
    ],
    ids=["early-0.1", "end-0.1", "early-0.5", "end-0.5", "chance-0.5"],
)
def test_c1_each_lead_decides_its_own_part(name, accuracy, part):
    check_one_part_fails(claims.claim_1(c1_runs(**{name: {"accuracy": accuracy}})), part)


def test_c1_a_diverged_batchnorm_run_leads_nowhere():
    result = claims.claim_1(c1_runs(vgg_batch={"status": "diverged"}))
    assert failing(result) == ["BatchNorm ahead at the end, lr 0.1"]  # before step 60: ahead
    runs = c1_runs(**{n: {"accuracy": (0.4, 0.7)} for n in ("vgg_none", "vgg_none_lr0.5")})
    assert claims.claim_1(runs)[1] == "not confirmed"


# ---------------------------------------------------------------------------
# C2: noisy BatchNorm trains about as well, with less stable distributions


def c2_runs(noisy_accuracy=0.66, noisy_moments=(0.3, 0.3), none_accuracy=0.6):
    return {
        "vgg_none": make_run(
            "vgg_none", "none", 0.1, accuracy=(0.5, none_accuracy), moments=(0.1, 0.1)
        ),
        "vgg_batch": make_run("vgg_batch", "batch", 0.1, accuracy=(0.5, 0.7), moments=(0.05, 0.05)),
        "vgg_noisy_batch": make_run(
            "vgg_noisy_batch",
            "noisy_batch",
            0.1,
            accuracy=(0.5, noisy_accuracy),
            moments=noisy_moments,
        ),
    }


def test_c2_rule_on_both_sides_of_its_thresholds():
    assert verdicts.ABOUT_AS_WELL == 0.05
    result = claims.claim_2(c2_runs())
    assert result[1] == "confirmed" and not failing(result)
    # 0.06 behind BatchNorm (0.70) is not "about as well"; neither is a tie with the
    # standard network.
    check_one_part_fails(claims.claim_2(c2_runs(noisy_accuracy=0.64)), "noisy BatchNorm within")
    check_one_part_fails(
        claims.claim_2(c2_runs(noisy_accuracy=0.66, none_accuracy=0.66)), "noisy BatchNorm within"
    )
    # Its moments must move more than the standard network's (0.1), in mean and variance.
    for moments in ((0.1, 0.3), (0.3, 0.1), (0.05, 0.3)):
        check_one_part_fails(claims.claim_2(c2_runs(noisy_moments=moments)), "its mean and")
    assert claims.claim_2(c2_runs(0.5, (0.01, 0.01)))[1] == "not confirmed"


# ---------------------------------------------------------------------------
# C3: BatchNorm does not reduce ICS; the standard DLN has almost none


def c3_runs(vgg_batch=(1.0, 0.5), dln_batch=(1.0, 0.5), dln_none_cosines=(0.95, 0.9), slow=True):
    """Per-layer (l2, cosine) of each run; the standard networks have l2 1.0 and cosine 0.5
    (VGG) or `dln_none_cosines` (DLN) in every layer after the first."""

    def runs_of(names, task, standard, batch, lr):
        return {
            names[0]: make_run(names[0], "none", lr, task, ics=standard),
            names[1]: make_run(names[1], "batch", lr, task, ics=[batch, batch]),
        }

    dln_standard = [(1.0, c) for c in dln_none_cosines]
    runs = {
        **runs_of(("vgg_none", "vgg_batch"), "vgg_cifar", [(1.0, 0.5)] * 2, vgg_batch, 0.1),
        **runs_of(("dln_none", "dln_batch"), "dln", dln_standard, dln_batch, 1e-6),
    }
    if slow:
        runs.update(
            runs_of(
                ("dln_none_lr1e-7", "dln_batch_lr1e-7"), "dln", [(1.0, 0.99)] * 2, (1.0, 0.99), 1e-7
            )
        )
    return runs


def test_c3_rule_on_both_sides_of_its_thresholds():
    result = claims.claim_3(c3_runs())
    assert result[1] == "confirmed" and not failing(result), failing(result)
    # Equal ICS counts as "not reduced"; a smaller l2 or a larger cosine is a reduction.
    check_one_part_fails(claims.claim_3(c3_runs(vgg_batch=(0.9, 0.5))), "VGG: BatchNorm")
    check_one_part_fails(claims.claim_3(c3_runs(vgg_batch=(1.0, 0.51))), "VGG: BatchNorm")
    check_one_part_fails(claims.claim_3(c3_runs(dln_batch=(0.99, 0.5))), "DLN: BatchNorm")
    # "Almost none": every layer of the standard DLN at a median cosine of at least 0.9.
    check_one_part_fails(
        claims.claim_3(c3_runs(dln_none_cosines=(0.95, 0.89))),
        "DLN: every layer of the standard DLN keeps",
    )
    # Without the lr-1e-7 runs, the claim has three parts.
    assert len(parts_of(claims.claim_3(c3_runs(slow=False))[2])) == 3


def test_c3_medians_are_over_steps_then_layers_without_the_first_layer():
    run = make_run("vgg_none", "none", 0.1, ics=[(1.0, 0.2), (3.0, 0.4), (5.0, 0.9)])
    assert summaries.ics_medians(run)["l2"] == {"layer_01": 1.0, "layer_02": 3.0, "layer_03": 5.0}
    runs = c3_runs()
    runs["vgg_none"] = run  # medians 3.0 and 0.4 against BatchNorm's 1.0 and 0.5
    assert failing(claims.claim_3(runs)) == [
        "VGG: BatchNorm improves neither the l2 difference (standard / BatchNorm 3) nor the "
        "cosine (0.4 -> 0.5)"
    ]
