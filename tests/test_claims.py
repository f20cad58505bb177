"""The claims C4-C7 of REPORT.md on hand-written runs (the rules and C1-C3:
test_ics_claims.py).

Each claim is first given runs on which every part of it holds ("confirmed"), then one
number at a time is moved just across its threshold: the part it decides must fail, and
only it ("partly"). A flipped comparison or a moved threshold fails here, not silently in
the report.
"""

import math

from bn_smooth import summaries
from bn_smooth.paper import c4_analysis, c4_report, claims, sharpness_claim
from bn_smooth.summaries import EARLY
from tests.claim_runs import STEPS, check_one_part_fails, failing, make_run, parts_of

# ---------------------------------------------------------------------------
# C4: BatchNorm makes the loss and its gradients smoother


def c4_runs(vgg_batch=(1.0, 1.0, 1.0), dln_batch=(1.0, 1.0, 1.0)):
    """The standard networks' (loss range, gradient change, beta_eff) are (2, 30, 2):
    against BatchNorm's default, every ratio above 1 and the gradient change 30x."""
    return {
        "vgg_none": make_run("vgg_none", "none", 0.1, landscape=(2.0, 30.0, 2.0)),
        "vgg_batch": make_run("vgg_batch", "batch", 0.1, landscape=vgg_batch),
        "dln_none": make_run("dln_none", "none", 1e-6, "dln", landscape=(2.0, 30.0, 2.0)),
        "dln_batch": make_run("dln_batch", "batch", 1e-6, "dln", landscape=dln_batch),
    }


def test_c4_rule_on_both_sides_of_its_thresholds():
    assert c4_analysis.TWO_ORDERS == 30
    result = claims.claim_4(c4_runs())
    assert result[1] == "confirmed" and not failing(result), failing(result)
    assert len(parts_of(result[2])) == 6
    # Gradient change 30 / 1.01 < 30x: smoother, but not by "two orders of magnitude".
    check_one_part_fails(
        claims.claim_4(c4_runs(vgg_batch=(1.0, 1.01, 1.0))),
        "VGG, first 20% of steps, after 0: gradient change at least 30x",
    )
    check_one_part_fails(
        claims.claim_4(c4_runs(dln_batch=(1.0, 1.01, 1.0))),
        "DLN, first 20% of steps, after 0: gradient change at least 30x",
    )
    # A ratio of exactly 1 in any one measure is not "smaller with BatchNorm", early and late.
    for batch in ((2.0, 1.0, 1.0), (1.0, 1.0, 2.0)):
        result = claims.claim_4(c4_runs(vgg_batch=batch))
        assert result[1] == "partly"
        assert [f.split(":")[0] for f in failing(result)] == [
            "VGG, first 20% of steps, after 0",
            "VGG, whole run",
        ]
    result = claims.claim_4(c4_runs((3.0, 40.0, 3.0), (3.0, 40.0, 3.0)))
    assert result[1] == "not confirmed"


def test_c4_early_window_leaves_out_step_0_and_the_late_steps():
    # A huge ratio at step 0 or after the first 20% does not make the early one.
    run = make_run("vgg_none", "none", 0.1, landscape=(2.0, 30.0, 2.0))
    for row in run.rows["landscape"]:
        if row["step"] == 0 or row["step"] >= EARLY * STEPS:
            row["grad_dist_max"] = 3000.0
    runs = c4_runs()
    runs["vgg_none"] = run
    assert summaries.landscape_medians(runs["vgg_none"], early=True)["gradient change"] == 30.0
    assert summaries.landscape_medians(runs["vgg_none"], early=None)["gradient change"] == 3000.0
    assert claims.claim_4(runs)[1] == "confirmed"


def study_summary(*early):
    """A C4 study summary with one setting per (median, max) of the early per-step ratio
    of the gradient change."""
    settings = [
        {
            "name": f"s{i}",
            "label": f"setting {i}",
            "width": 0.125,
            "ratios": {
                "batch_lr0.1": {"gradient change": {"early": {"median": median, "max": top}}}
            },
        }
        for i, (median, top) in enumerate(early)
    ]
    return {"settings": settings}


def test_c4_study_verdict_needs_a_median_of_30x_not_one_step():
    v = c4_analysis.verdict(study_summary((3.0, 29.0), (30.0, 31.0)))
    assert v["reaches_two_orders"] and v["setting"] == "s1" and v["median"] == 30.0
    v = c4_analysis.verdict(study_summary((29.9, 1000.0), (2.0, 5.0)))
    assert not v["reaches_two_orders"] and v["setting"] == "s0"
    assert v["max_single_step"] == 1000.0 and v["max_single_step_setting"] == "s0 batch_lr0.1"
    assert c4_analysis.verdict(study_summary((math.nan, 50.0))) == {}


def test_c4_counts_the_study_as_one_more_part(monkeypatch):
    # The study's report section needs its tables; only its part of the verdict is tested.
    for name in ("windows_note", "ratio_table", "explanation"):
        monkeypatch.setattr(c4_report, name, lambda *args, **kwargs: "")
    study = {"scale": "cpu", "num_steps": 10}
    for median, reaches in ((29.0, False), (31.0, True)):
        result = claims.claim_4(
            c4_runs(), {**study, "verdict": {"median": median, "reaches_two_orders": reaches}}
        )
        parts = parts_of(result[2])
        assert [holds for _, holds in parts] == [True] * 6 + [reaches]
        assert result[1] == ("confirmed" if reaches else "partly")


# ---------------------------------------------------------------------------
# C5: lp normalizations help about as much; l1 best on the DLN

LP = ("l1", "l2", "linf")


def c5_runs(vgg_acc=None, dln_loss=None, smooth=None):
    """VGG final accuracies, DLN final losses per seed (3 seeds) and (gradient change,
    beta_eff) of every network; the defaults make every part hold."""
    vgg_acc = {"none": 0.6, "batch": 0.7, "l1": 0.68, "l2": 0.66, "linf": 0.67, **(vgg_acc or {})}
    dln_loss = {
        "none": (10.0,) * 3,
        "batch": (4.0,) * 3,
        "l1": (3.0, 3.0, 9.0),
        "l2": (5.0,) * 3,
        "linf": (8.0,) * 3,
        **(dln_loss or {}),
    }
    smooth = {n: (2.0, 2.0) if n == "none" else (1.0, 1.0) for n in vgg_acc} | (smooth or {})
    runs = {}
    for n in vgg_acc:
        grad, beta = smooth[n]
        runs[f"vgg_{n}"] = make_run(
            f"vgg_{n}", n, 0.1, accuracy=(0.5, vgg_acc[n]), landscape=(1.0, grad, beta)
        )
        for k, final in enumerate(dln_loss[n]):
            name = f"dln_{n}" + (f"_s{k}" if k else "")
            runs[name] = make_run(
                name,
                n,
                1e-6,
                "dln",
                loss=[final] * STEPS,
                landscape=(1.0, grad, beta) if not k else None,
            )
    return runs


def test_c5_rule_on_both_sides_of_its_thresholds():
    result = claims.claim_5(c5_runs())
    assert result[1] == "confirmed" and not failing(result), failing(result)
    check_one_part_fails(claims.claim_5(c5_runs(vgg_acc={"l2": 0.64})), "every lp norm trains")
    check_one_part_fails(claims.claim_5(c5_runs(vgg_acc={"none": 0.66})), "every lp norm trains")
    # DLN: below the standard network and within 2x of BatchNorm (4.0), medians over seeds.
    check_one_part_fails(
        claims.claim_5(c5_runs(dln_loss={"linf": (8.1,) * 3})), "every lp norm ends the DLN"
    )
    check_one_part_fails(
        claims.claim_5(c5_runs(dln_loss={"none": (8.0,) * 3})), "every lp norm ends the DLN"
    )
    assert claims.claim_5(c5_runs(dln_loss={"linf": (8.0, 8.0, 100.0)}))[1] == "confirmed"
    # l1 lowest on most seeds: 2 of 3 is most, 1 of 3 is not (a tie counts as lowest).
    result = claims.claim_5(c5_runs(dln_loss={"l1": (3.0, 4.0, 9.0), "batch": (4.0, 3.5, 4.0)}))
    assert failing(result) == ["l1 reaches the lowest DLN loss on most seeds (1 of 3)"]
    assert claims.claim_5(c5_runs(dln_loss={"l1": (3.0, 4.0, 9.0)}))[1] == "confirmed"
    two_seeds = {
        "none": (10.0,) * 2,
        "batch": (4.0, 3.5),
        "l1": (3.0, 4.0),
        "l2": (5.0,) * 2,
        "linf": (7.0,) * 2,
    }  # l1 lowest on 1 of 2 seeds: not most
    assert failing(claims.claim_5(c5_runs(dln_loss=two_seeds))) == [
        "l1 reaches the lowest DLN loss on most seeds (1 of 2)"
    ]
    # Smoother: every normalized network's gradient change and beta_eff below the standard's.
    for smooth in ({"l1": (2.0, 1.0)}, {"batch": (1.0, 2.0)}):
        check_one_part_fails(
            claims.claim_5(c5_runs(smooth=smooth)), "every normalized network is smoother"
        )


# ---------------------------------------------------------------------------
# C6: the theory of section 4 and appendix C


def theory_row(statement, form, verdict_text):
    return {"statement": statement, "form": form, "instances": 10, "verdict": verdict_text}


def test_c6_rule_on_each_part():
    thm_41 = theory_row("Theorem 4.1", "identical-gradient assumption", "holds; equality")
    literal = theory_row("Theorem 4.1", "as printed", "false on 3 of 10")
    other = theory_row("Lemma 4.5", "as printed", "holds")
    result = claims.claim_6([thm_41, other])
    assert result[1] == "confirmed" and not failing(result)
    result = claims.claim_6([thm_41, literal, other])
    assert failing(result) == ["every statement holds as printed"]
    assert "read literally, with the standard network's own gradient, it fails" in result[2]
    result = claims.claim_6([literal, other])
    assert result[1] == "partly" and len(failing(result)) == 2
    assert claims.claim_6([literal])[1] == "not confirmed"


# ---------------------------------------------------------------------------
# C7: the top of the Hessian's spectrum against 2/lr


def c7_runs(late=None, early=0.5, dln=None):
    """lambda_1 lr/2 of each run after the first 20% (`late`, at steps 50 and 51) and before
    it (step 0); the standard DLNs' loss falls until step 50 and oscillates from there on
    (`dln`: {name: (sharpness at 0, at 50)} override)."""
    lr = {
        "vgg_none": 0.1,
        "vgg_batch": 0.1,
        "vgg_none_lr0.5": 0.5,
        "vgg_batch_lr0.5": 0.5,
        "dln_none": 1e-6,
        "dln_batch": 1e-6,
        "dln_none_lr1e-7": 1e-7,
    }
    late = {name: 1.0 for name in lr} | (late or {})
    dln = {
        "dln_none": (early, late["dln_none"]),
        "dln_none_lr1e-7": (early, late["dln_none_lr1e-7"]),
    } | (dln or {})
    oscillating = [100.0 - t if t < 50 else 50.0 + t % 2 for t in range(STEPS)]
    runs = {}
    for name, rate in lr.items():
        at0, at50 = dln.get(name, (early, late[name]))
        curvature = {0: (at0 * 2 / rate,) * 2, 50: (at50 * 2 / rate,) * 2}
        runs[name] = make_run(
            name,
            "batch" if "batch" in name else "none",
            rate,
            "dln" if name.startswith("dln") else "vgg_cifar",
            curvature=curvature,
            loss=oscillating if name.startswith("dln_none") else None,
        )
    return runs


def test_c7_rule_on_both_sides_of_its_thresholds():
    assert (sharpness_claim.LOWERS, sharpness_claim.EDGE) == (2, (0.8, 1.25))
    assert (sharpness_claim.OSCILLATES, sharpness_claim.AGREE) == (0.25, 0.8)
    result = sharpness_claim.claim_7(c7_runs())
    # At the edge but not lowered by BatchNorm: the three pairs fail, the rest holds.
    assert result[1] == "partly"
    assert [f.split(":")[0] for f in failing(result)] == [
        "VGG, lr 0.1",
        "VGG, lr 0.5",
        "DLN, lr 1e-6",
    ]
    # "Lowers": the standard network's late lambda_1 at least 2x BatchNorm's.
    lowered = sharpness_claim.claim_7(c7_runs(late={"vgg_none": 2.0}))
    assert not any(f.startswith("VGG, lr 0.1") for f in failing(lowered))
    edge = next(f for f in failing(lowered) if f.startswith("every network"))
    assert "6 of 7 do" in edge  # 2.0 is above the edge
    barely = sharpness_claim.claim_7(c7_runs(late={"vgg_none": 1.99}))
    assert any(f.startswith("VGG, lr 0.1") for f in failing(barely))
    # The edge is [0.8, 1.25], bounds included.
    for value, at_edge in ((0.8, True), (1.25, True), (0.79, False), (1.26, False)):
        result = sharpness_claim.claim_7(c7_runs(late={"vgg_batch": value}))
        assert any(f.startswith("every network") for f in failing(result)) != at_edge, value


def test_c7_oscillation_must_coincide_with_lambda_at_least_2_over_lr():
    # Each standard DLN: descends (0% rising) while below 2/lr, oscillates (50%) above it.
    result = sharpness_claim.claim_7(c7_runs())
    assert not any(f.startswith("the standard DLN") for f in failing(result))
    # Oscillating below 2/lr on one of four intervals: agreement 75% < 80%.
    result = sharpness_claim.claim_7(c7_runs(dln={"dln_none": (0.5, 0.99)}))
    disagree = [f for f in failing(result) if f.startswith("the standard DLN")]
    assert disagree and "agree on 75% of 4 probe intervals" in disagree[0]
    # Descending at or above 2/lr disagrees too.
    result = sharpness_claim.claim_7(c7_runs(dln={"dln_none_lr1e-7": (1.0, 1.0)}))
    assert any(f.startswith("the standard DLN") for f in failing(result))
