"""The normalizer comparison (bn_smooth/paper/norm_comparison.py): its verdict on both
sides of each check with hand-written entries, and its table from hand-written runs whose
numbers are known."""

import pytest

from bn_smooth.configs import norm_comparison as config_module
from bn_smooth.paper import norm_comparison, verdicts
from bn_smooth.paper.markdown import fmt
from tests.claim_runs import make_run

GRID = [0.1 * 2**k for k in range(5)]


def entry(norm, largest, accuracy=0.8, change=2.0) -> dict:
    """A normalizer's entry as `norm_comparison.entry` writes it: the largest lr that
    trains, its final accuracy and its early gradient change (standard / it) per seed."""
    return {
        "label": norm,
        "batch_independent": norm not in ("batch",),
        "seeds": 3,
        "final_accuracy": [accuracy] * 3,
        "test_accuracy": [accuracy - 0.1] * 3,
        "gradient_change": [change] * 3,
        "decomposition": [],
        "sweep": {"lrs": GRID, "largest_trainable": largest, "largest_is_top": largest == GRID[-1]},
    }


def norms(**changes) -> dict:
    """Standard up to GRID[1], BatchNorm and two others up to GRID[2]; `changes` replaces
    an entry's fields, e.g. layer=dict(largest=GRID[1])."""
    base = {"none": (GRID[1], 0.7, 1.0), "batch": (GRID[2], 0.8, 1.2)}
    base |= {"layer": (GRID[2], 0.8, 2.0), "group": (GRID[3], 0.78, 1.5)}
    out = {n: entry(n, *v) for n, v in base.items()}
    for n, fields in changes.items():
        e = entry(n, *base[n])
        out[n] = entry(
            n,
            fields.get("largest", e["sweep"]["largest_trainable"]),
            fields.get("accuracy", e["final_accuracy"][0]),
            fields.get("change", e["gradient_change"][0]),
        )
    return out


def verdict(entries):
    return verdicts.verdict(norm_comparison.checks(entries))


def test_confirmed_when_every_batch_independent_norm_trains_at_twice_the_standard_lr():
    assert verdict(norms()) == "confirmed"
    # BatchNorm itself is not one of them: its own numbers do not decide the check.
    assert verdict(norms(batch={"largest": GRID[0]})) == "confirmed"


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"layer": {"largest": GRID[1]}}, "not confirmed"),  # the standard network's lr
        ({"group": {"largest": None}}, "not confirmed"),  # trains at none
        ({"none": {"largest": GRID[4]}, "layer": {"largest": GRID[4]}}, "not confirmed"),
        ({"layer": {"accuracy": 0.74}}, "confirmed, but 1 of 2 secondary checks fail"),
        ({"group": {"change": 0.9}}, "confirmed, but 1 of 2 secondary checks fail"),
    ],
)
def test_each_check_fails_alone(changes, expected):
    assert verdict(norms(**changes)) == expected


def test_the_accuracy_check_holds_on_its_boundary():
    assert verdict(norms(layer={"accuracy": 0.75 + 1e-9})) == "confirmed"


def test_entry_reads_the_runs_numbers():
    """Standard and layer runs on three seeds whose gradient change is 6 and 2 at every
    probe: the ratio standard / layer is 3 on each seed; accuracies as written."""
    runs = {}
    for norm, change, acc in (("none", 6.0, 0.6), ("layer", 2.0, 0.9)):
        for k in (0, *config_module.EXTRA_SEEDS):
            name = config_module.run_name(norm, k)
            runs[name] = make_run(
                name, norm, 0.1, accuracy=(0.3, acc + k / 100), landscape=(1.0, change, 5.0)
            )
    e = norm_comparison.entry(runs, "layer")
    assert e["seeds"] == 3 and e["batch_independent"]
    assert e["gradient_change"] == pytest.approx([3.0] * 3)
    assert e["final_accuracy"] == pytest.approx([0.9, 0.91, 0.92])
    assert "sweep" not in e  # its sweep run does not exist
    assert norm_comparison.entry(runs, "none")["gradient_change"] == pytest.approx([1.0] * 3)


def test_report_section_states_the_verdict_and_every_normalizer():
    entries = norms(group={"change": 0.9})
    parts = norm_comparison.checks(entries)
    summary = {
        "scale": "test",
        "claim": norm_comparison.CLAIM,
        "norms": entries,
        "checks": [{"text": t, "holds": h} for t, h in parts],
        "verdict": verdict(entries),
    }
    section = norm_comparison.report_section(summary)
    assert "**Verdict: confirmed, but 1 of 2 secondary checks fail.**" in section
    assert "- **fails**: each one's early gradient change" in section
    for norm, e in entries.items():  # a row each: label, median accuracy (and range)
        acc = fmt(e["final_accuracy"][0])
        assert f"| {norm} | {acc} ({acc}-{acc}) |" in section, norm


def test_entry_pairs_the_networks_by_seed_when_a_run_is_missing():
    """The standard network's change is 6 (k + 1) at seed k, layer's 2: ratios 3 (k + 1).
    Without layer's seed 1, its ratios are those of seeds 0 and 2, not 0 and 1."""
    runs = {}
    for norm in ("none", "layer"):
        for k in (0, *config_module.EXTRA_SEEDS):
            name = config_module.run_name(norm, k)
            change = 6.0 * (k + 1) if norm == "none" else 2.0
            runs[name] = make_run(
                name, norm, 0.1, accuracy=(0.3, 0.8), landscape=(1.0, change, 5.0)
            )
    del runs[config_module.run_name("layer", 1)]
    e = norm_comparison.entry(runs, "layer")
    assert e["seeds"] == 2
    assert e["gradient_change"] == pytest.approx([3.0, 9.0])
