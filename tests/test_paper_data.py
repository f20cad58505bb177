"""The paper's plotted data, read back from its PDF: the committed panels are exactly what
the PDF holds, every axis is calibrated by its own tick labels, points checked by hand
agree, the figures are matched by caption, and the series say what the paper plotted."""

import json
import re

import numpy as np
import pytest

from bn_smooth.paper import paper_data, pdf_figures
from tests.conftest import SHARED

PAPER = SHARED / "paper"
PDF = PAPER / paper_data.PDF_NAME
TEXT = PAPER / "how_does_batchnorm_help_optimization.txt"
needs_pdf = pytest.mark.skipif(not PDF.exists(), reason=f"the paper's PDF is not at {PDF}")


def committed() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(paper_data.DATA_DIR.glob("*.json"))}


@pytest.fixture(scope="module")
def extracted():
    return paper_data.extract(PDF)


@needs_pdf
def test_committed_panels_are_exactly_what_the_pdf_holds(extracted):
    files = {p.stem: p.read_text() for p in paper_data.DATA_DIR.glob("*.json")}
    assert set(files) == set(extracted), "run `python -m experiments.paper_data`"
    for stem, record in extracted.items():
        assert files[stem] == paper_data.dumps(record), stem


def test_every_axis_is_calibrated_by_its_own_tick_labels():
    """Each axis has at least two labelled gridlines, and one straight map (in log10 on a
    log axis) takes every gridline to its label: a mismatched label would not fit."""
    for stem, record in committed().items():
        for name in ("x", "y"):
            ticks = np.array(record["ticks"][name])
            assert len(ticks) >= 2, (stem, name)
            axis = pdf_figures.Axis(
                tuple(ticks[:, 0]), tuple(ticks[:, 1]), record[f"{name}_scale"] == "log"
            )
            assert axis.residual() < 1e-6, (stem, name, ticks)


# The first vertex of the first series, mapped by hand from the content stream's numbers:
# value = v0 + (c - c0) / (c1 - c0) * (v1 - v0) between the first and last labelled
# gridlines (in log10 on a log axis). E.g. figure 4(b): the standard network's band at
# step 0 reaches y = 46.248469 with the gridlines 0 at 44.602034 and 250 at 214.273897:
# 250 * 1.646435 / 169.671863 = 2.42591. Figure 1's 9.375 is 12 of a batch of 128.
HAND_CHECKED = [
    ("figure_01a", "Standard, LR=0.1", 0.0, 9.375),
    ("figure_02a", "Standard", 0.0, 9.375),
    ("figure_03_vgg_lr0.1_layer5_l2", "Standard", 0.0, 0.040552),
    ("figure_04a", "Standard", 0.0, 4.28819),
    ("figure_04b", "Standard", 0.0, 2.42591),
    ("figure_04c", "Standard", 0.0, 11.5233),
    ("figure_07b_layer2_mean", "Standard", 100.0, 0.0605601),
    ("figure_09a", "Standard", 0.0, 34673.3),
    ("figure_10_vgg_none", 0.0, 0.05, 1.12161),  # the first probe (colour rank 0)
    ("figure_10_dln_batch", 0.0, 1e-08, 5809.43),
    ("figure_13b", "Standard", 0.0, 34675.7),
]


@pytest.mark.parametrize("stem, series, x, y", HAND_CHECKED, ids=[h[0] for h in HAND_CHECKED])
def test_a_point_checked_by_hand(stem, series, x, y):
    record = paper_data.load(stem)
    key = "rank" if isinstance(series, float) else "label"
    found = next(s for s in record["series"] if s[key] == series)
    values = [found[k] for k in ("y", "lower", "upper") if k in found]
    at = [i for i, v in enumerate(found["x"]) if v == pytest.approx(x, rel=1e-5, abs=1e-3)]
    assert at, (stem, found["x"][:3])
    # Values are stored to about 1e-5 of the axis span (paper_data._rounded).
    assert any(v[i] == pytest.approx(y, rel=1e-4, abs=1e-3) for v in values for i in at), stem


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("ﬁ", "fi").replace("\u2019", "'"))


@needs_pdf
def test_figures_are_matched_to_the_text_by_caption():
    """The text numbers the appendix figures otherwise than the PDF: each entry's caption
    opens the text's figure of its number and the PDF's of its own, on its page."""
    import pypdf

    reader = pypdf.PdfReader(PDF)
    text = _normal(TEXT.read_text())
    for source in paper_data.SOURCES:
        assert f"Figure {source.figure}: {source.caption}" in text, source.figure
        page = next(iter(source.panels.values()))[0]
        on_page = _normal(reader.pages[page - 1].extract_text())
        assert f"Figure {source.pdf_figure}: {source.caption}" in on_page, source.figure


def test_only_the_paper_pdf_is_read(tmp_path):
    other = tmp_path / paper_data.PDF_NAME
    other.write_bytes(b"%PDF-1.4 not the paper")
    with pytest.raises(ValueError, match="is not arXiv:1805.11604v3"):
        paper_data.check_pdf(other)
    with pytest.raises(FileNotFoundError, match="--pdf="):
        paper_data.check_pdf(tmp_path / "missing.pdf")


def test_legend_labels_name_this_projects_normalizations():
    assert paper_data.norm_of('Standard + "Noisy" Batchnorm') == "noisy_batch"
    assert paper_data.norm_of("Standard + BatchNorm, LR=0.5") == "batch"
    assert paper_data.norm_of("Standard + L∞") == "linf"
    assert paper_data.norm_of("Standard, LR=0.1") == "none"
    assert paper_data.lr_of("Standard, LR=0.5") == 0.5
    with pytest.raises(ValueError, match="names no normalization"):
        paper_data.norm_of("Layer #5")


def test_tick_labels_as_numbers():
    assert pdf_figures.tick_value("5k") == 5000
    assert pdf_figures.tick_value("1e-06") == 1e-6
    assert pdf_figures.tick_value("10", "-2") == pytest.approx(0.01)
    assert pdf_figures.tick_value("\u22120.25") == -0.25
    with pytest.raises(ValueError):
        pdf_figures.tick_value("Steps")


def _series(stem, norm=None, label=None):
    return next(
        s for s in paper_data.load(stem)["series"] if s.get("norm") == norm or s["label"] == label
    )


def test_the_papers_figures_say_what_they_plot():
    """What the series themselves show, where REPORT.md compares with them."""
    # Figure 4(b): largest gradient change, standard / BatchNorm, probes 100-2,900.
    none, batch = _series("figure_04b", "none"), _series("figure_04b", "batch")
    x = np.array(none["x"])
    ratio = np.array(none["upper"]) / np.array(batch["upper"])
    early = (x >= 100) & (x <= 2900)
    assert np.median(ratio[early]) == pytest.approx(2.71, abs=0.01)
    assert ratio[early].max() < 10
    # Figure 1: the standard network at lr 0.5 stays at chance (10%) throughout.
    assert max(_series("figure_01a", label="Standard, LR=0.5")["y"]) < 20
    # Figure 10, VGG: the median gradient change over probes, standard / BatchNorm, is
    # about 1 at eta = lr = 0.1 and about 2 at 4 lr.
    medians = [
        np.median([c["y"] for c in paper_data.load(f"figure_10_vgg_{n}")["series"]], axis=0)
        for n in ("none", "batch")
    ]
    per_eta = dict(
        zip(
            paper_data.load("figure_10_vgg_none")["series"][0]["x"],
            medians[0] / medians[1],
            strict=True,
        )
    )
    assert per_eta[0.1] == pytest.approx(1.1, abs=0.15)
    assert per_eta[0.4] == pytest.approx(2.2, abs=0.3)


def _run(norm, lr, num_steps):
    from bn_smooth.results import Run

    config = {"norm": norm, "lr": lr, "num_steps": num_steps, "task": "vgg_cifar"}
    return Run.from_rows(f"vgg_{norm}", config, [{"step": num_steps, "kind": "train"}])


def test_overlays_draw_the_matching_paper_series_over_the_steps_both_cover():
    from matplotlib.figure import Figure

    from bn_smooth.paper import overlays, panels

    ax = Figure().subplots()
    runs = [_run("batch", 0.5, 3000), _run("l1", 0.1, 3000)]  # the paper has no l1 in fig. 1
    assert overlays.draw(ax, "figure_01a", runs, scale=0.01) == 1
    (line,) = ax.lines
    paper = overlays.series("figure_01a", "batch", 0.5)
    keep = [i for i, x in enumerate(paper["x"]) if x <= 3000]
    np.testing.assert_allclose(line.get_xdata(), [paper["x"][i] for i in keep])
    np.testing.assert_allclose(line.get_ydata(), [paper["y"][i] / 100 for i in keep])
    assert line.get_color() == panels.COLORS["batch"]
    assert overlays.LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    # A band is drawn as its two edges.
    ax = Figure().subplots()
    assert overlays.draw(ax, "figure_04b", [_run("none", 0.1, 3000)]) == 1 and len(ax.lines) == 2


def test_figure_3_shows_the_papers_layers_or_the_nearest_ours_has():
    from bn_smooth.paper import panels

    vgg11 = [f"layer_{i:02d}" for i in range(8)] + ["head"]
    assert panels.nearest_layer(vgg11, 5) == "layer_04"
    assert panels.nearest_layer(vgg11, 10) == "layer_07"  # VGG-11 normalizes 8 layers
    dln = [f"layer_{i:02d}" for i in range(25)]
    assert [panels.nearest_layer(dln, n) for n in (9, 17)] == ["layer_08", "layer_16"]
