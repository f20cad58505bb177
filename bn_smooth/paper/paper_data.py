"""The paper's plotted series, as data: which panel of which PDF figure is which of the
text's figures, their extraction to JSON (bn_smooth/paper/data/, one file per panel), and
reading them back for overlays and the agreement table.

The text in ../shared/paper numbers the appendix figures as the published version does;
the arXiv v3 PDF numbers them otherwise. Each entry of `SOURCES` names both and the
first words of the caption they share, which `captions_match` checks in both files.
Files are named by the text's numbering.

    python -m experiments.paper_data --pdf=../shared/paper/arxiv_1805.11604v3.pdf
"""

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np

from bn_smooth.paper import pdf_content, pdf_figures

DATA_DIR = Path(__file__).parent / "data"
PDF_NAME = "arxiv_1805.11604v3.pdf"
PDF_SHA256 = "8cd5cf67c41c669e3f1888a81743c0c8a6cebbbd6ec3a380f302c9988f274f73"
CITATION = "the paper (arXiv v3, read from the PDF)"


@dataclasses.dataclass(frozen=True)
class Source:
    """One figure: its number in the text and in the PDF, the caption's first words, and
    its panels {name: (page, form, axes index, what it shows)}."""

    figure: int  # the text's number
    pdf_figure: int
    caption: str
    panels: dict


def _ics(network, form, page, lrs, layers):
    """Figure 3's grid: per learning rate (row), the training curve, then per layer the
    l2 difference and the cosine; axes in drawing order."""
    panels = {}
    for row, lr in enumerate(lrs):
        panels[f"{network}_lr{lr}_training"] = (page, form, row, f"{network} training, lr {lr}")
    for col, layer in enumerate(layers):
        for row, lr in enumerate(lrs):
            for k, measure in enumerate(("l2", "cosine")):
                index = 2 + 4 * row + 2 * col + k
                what = f"{network} ICS {measure}, layer #{layer}, lr {lr}"
                panels[f"{network}_lr{lr}_layer{layer}_{measure}"] = (page, form, index, what)
    return panels


def _landscape(page, forms, what, letters="abc"):
    """A landscape figure's panels: loss range, gradient predictiveness, beta-smoothness."""
    return {
        letter: (page, form, axes, f"{what}: {quantity}")
        for letter, (form, axes), quantity in zip(
            letters,
            forms,
            ("loss range", "gradient predictiveness", "beta-smoothness"),
            strict=False,
        )
    }


SOURCES = (
    Source(
        1,
        1,
        "Comparison of (a) training (optimization) and (b) test (generalization)",
        {
            "a": (2, "Im1", 0, "VGG training accuracy (%)"),
            "b": (2, "Im1", 1, "VGG test accuracy (%)"),
        },
    ),
    Source(
        2,
        2,
        "Connections between distributional stability and BatchNorm performance",
        {"a": (3, "Im2", 0, "VGG training accuracy, noisy BatchNorm")},
    ),
    Source(
        3,
        3,
        "Measurement of ICS (as defined in Definition 2.1) in networks with and",
        _ics("vgg", "Im3", 4, ("0.1", "0.01"), (5, 10))
        | _ics("dln", "Im4", 4, ("1e-06", "1e-07"), (9, 17)),
    ),
    Source(
        4,
        4,
        "Analysis of the optimization landscape of VGG networks",
        _landscape(6, [("Im5", 0), ("Im6", 0), ("Im7", 0)], "VGG"),
    ),
    Source(
        7,
        8,
        "Comparison of change in the first two moments (mean and variance)",
        {
            f"{part}_layer{layer}_{moment}": (15, form, 2 * row + col, f"VGG {what}")
            for part, form, kind in (("a", "Im13", "step to step"), ("b", "Im14", "since 0"))
            for row, layer in enumerate((2, 9, 13))
            for col, moment in enumerate(("mean", "variance"))
            for what in [f"change of the {moment} {kind}, layer #{layer}"]
        },
    ),
    Source(
        9,
        10,
        "Analysis of the optimization landscape during training of deep linear",
        _landscape(16, [("Im16", 0), ("Im17", 0), ("Im18", 0)], "DLN"),
    ),
    Source(
        10,
        11,
        "Comparison of the predictiveness of gradients with and without BatchNorm",
        {
            f"{network}_{norm}": (16, form, axes, f"{network} gradient change against eta")
            for network, form in (("vgg", "Im19"), ("dln", "Im20"))
            for axes, norm in enumerate(("none", "batch"))
        },
    ),
    Source(
        11,
        12,
        "Evaluation of VGG networks trained with different",
        {"a": (17, "Im21", 0, "VGG training accuracy (%)")}
        | _landscape(17, [("Im21", 1), ("Im21", 2), ("Im21", 3)], "VGG lp", "bcd"),
    ),
    Source(
        12,
        13,
        "Evaluation of deep linear networks trained with different",
        {"a": (17, "Im22", 0, "DLN training loss")}
        | _landscape(17, [("Im22", 1), ("Im22", 2), ("Im22", 3)], "DLN lp", "bcd"),
    ),
    Source(
        13,
        5,
        "Evaluation of the training performance of",
        {
            "a": (7, "Im8", 0, "VGG training accuracy (%), lp"),
            "b": (7, "Im9", 0, "DLN training loss, lp"),
        },
    ),
)
COLORMAP_FIGURES = (10,)  # one curve per probe, its step the colour (blue: first, red: last)


def norm_of(label: str) -> str:
    """A legend label as one of this project's normalization names."""
    text = label.lower()
    for key, norm in (("noisy", "noisy_batch"), ("batchnorm", "batch"), ("l1", "l1")):
        if key in text:
            return norm
    for key, norm in (("l2", "l2"), ("l∞", "linf"), ("standard", "none")):
        if key in text:
            return norm
    raise ValueError(f"legend label {label!r} names no normalization")


def lr_of(label: str) -> float | None:
    found = re.search(r"LR\s*=\s*([\d.e-]+)", label)
    return float(found[1]) if found else None


def _rounded(values, axis: pdf_figures.Axis) -> list:
    """Data values to what the page resolves: about 1e-5 of the axis' span (of its
    decades on a log axis)."""
    values = np.asarray(values, dtype=float)
    if axis.log:
        return [float(f"{v:.6g}") for v in values]
    span = max(axis.values) - min(axis.values)
    digits = 5 - math.floor(math.log10(span))
    return [round(float(v), digits) + 0.0 for v in values]


def _colormap_rank(colour: tuple) -> float:
    """Where a colour sits on matplotlib's bwr map: 0 blue, 0.5 white, 1 red."""
    r, _, b = colour
    return round((r + 1 - b) / 2, 3)


def _line(paths, panel) -> dict:
    """A legend entry's line: its paths' points in drawing order, in data units."""
    points = np.concatenate([p.points for p in paths])
    return {
        "kind": "line",
        "x": _rounded(panel.x(points[:, 0]), panel.x),
        "y": _rounded(panel.y(points[:, 1]), panel.y),
    }


def _band(path, panel) -> dict:
    band = pdf_figures.band(path, panel)
    return {
        "kind": "band",
        "x": _rounded(band["x"], panel.x),
        "lower": _rounded(band["lower"], panel.y),
        "upper": _rounded(band["upper"], panel.y),
    }


def _series(panel: pdf_figures.Panel, colormap: bool) -> list[dict]:
    """The panel's series: per legend entry a line or a band; on a colormap figure, every
    curve with its rank on the colour map (0: the first probe, 1: the last)."""
    if colormap:
        curves = [p for p in panel.paths if p.op == "S" and len(p.points) >= 3]
        return [
            {"label": "probe", "rank": _colormap_rank(p.stroke), **_line([p], panel)}
            for p in sorted(curves, key=lambda p: _colormap_rank(p.stroke))
        ]
    out = []
    for label, paths in panel.series.items():
        if paths:
            entry = {"label": label, "norm": norm_of(label), "lr": lr_of(label)}
            kind = _line(paths, panel) if paths[0].op == "S" else _band(paths[0], panel)
            out.append(entry | kind)
    return out


def _stem(figure: int, panel: str) -> str:
    """figure_04b, figure_07a_layer2_mean (a panel letter first), figure_03_vgg_..."""
    lettered = panel[:1] in "abcd" and panel[1:2] in ("", "_")
    return f"figure_{figure:02d}" + (panel if lettered else f"_{panel}")


def check_pdf(path) -> Path:
    """The paper's PDF at `path`, after checking it is the arXiv v3 file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: pass --pdf=<the paper's {PDF_NAME}> (../shared/paper/ here)"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != PDF_SHA256:
        raise ValueError(
            f"{path} is not arXiv:1805.11604v3 (sha256 {digest[:12]}..., expected "
            f"{PDF_SHA256[:12]}...): the panel table is for that file only"
        )
    return path


def extract(pdf_path) -> dict[str, dict]:
    """{file stem: panel record} of every panel in `SOURCES`, read from the PDF."""
    import pypdf

    reader = pypdf.PdfReader(check_pdf(pdf_path))
    forms = {}
    records = {}
    for source in SOURCES:
        for name, (page, form, index, what) in source.panels.items():
            if (page, form) not in forms:
                xobject = reader.pages[page - 1]["/Resources"]["/XObject"][f"/{form}"]
                forms[page, form] = pdf_figures.panels(
                    pdf_content.read_form(reader, xobject.get_object())
                )
            panel = forms[page, form][index]
            stem = _stem(source.figure, name)
            records[stem] = {
                "figure": source.figure,
                "panel": name,
                "what": what,
                "source": {
                    "pdf": PDF_NAME,
                    "sha256": PDF_SHA256,
                    "pdf_figure": source.pdf_figure,
                    "page": page,
                    "form": form,
                    "axes": index,
                },
                **panel.labels,
                "x_scale": "log" if panel.x.log else "linear",
                "y_scale": "log" if panel.y.log else "linear",
                "ticks": {
                    "x": [list(t) for t in zip(panel.x.positions, panel.x.values, strict=True)],
                    "y": [list(t) for t in zip(panel.y.positions, panel.y.values, strict=True)],
                },
                "series": _series(panel, source.figure in COLORMAP_FIGURES),
            }
            if source.figure in COLORMAP_FIGURES:  # the legend's labels at their ranks
                records[stem]["colour_legend"] = {
                    label: _colormap_rank(paths[0].stroke)
                    for label, paths in panel.series.items()
                    if paths
                }
    return records


def dumps(record: dict) -> str:
    """A record as JSON, one line per array of numbers (readable diffs)."""
    text = json.dumps(record, indent=1, ensure_ascii=False)
    return (
        re.sub(r"\[\s+([-\d.e+,\s]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m[1]) + "]", text)
        + "\n"
    )


def write(records: dict, out_dir=DATA_DIR) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, record in records.items():
        path = out_dir / f"{stem}.json"
        path.write_text(dumps(record))
        written.append(path)
    return written


def load(stem: str, data_dir=DATA_DIR) -> dict:
    """A committed panel record, e.g. load("figure_04b")."""
    return json.loads((Path(data_dir) / f"{stem}.json").read_text())
