"""A matplotlib form XObject's content stream as what it paints: paths (points, how they
are painted, colour, dash) and text objects (characters, where, how large), in drawing
order and in the form's coordinates. bn_smooth.paper.pdf_figures reads figures off them.

Needs pypdf (the `paper` extra).
"""

import dataclasses

import numpy as np

DIGIT_EM = 0.64  # DejaVu Sans' digits are 0.64 em wide: where a tick label ends
# Glyphs that matplotlib draws as forms of their own, by the name it gives them.
GLYPHS = {
    "minus": "-",
    "infinity": "∞",
    "uni2113": "ℓ",
    "beta": "β",
    "gradient": "∇",
    "sigma": "σ",
    "uni03BC": "μ",
}


@dataclasses.dataclass(frozen=True)
class Path:
    op: str  # how it is painted: "S" stroked, "f" filled, "B" both
    points: np.ndarray  # (n, 2), in the form's coordinates
    stroke: tuple
    fill: tuple
    dash: tuple
    width: float

    @property
    def box(self) -> tuple:
        (x0, y0), (x1, y1) = self.points.min(0), self.points.max(0)
        return float(x0), float(y0), float(x1), float(y1)


@dataclasses.dataclass(frozen=True)
class Text:
    """One text object (BT ... ET): all its characters, and apart those at the largest size
    and the smaller ones (a mathtext exponent, as in 10^-2, or a subscript, as in L_1)."""

    text: str
    x: float  # where it starts
    y: float  # its baseline
    size: float
    end: float  # about where it ends
    base: str = ""
    superscript: str = ""


def _colour(operands) -> tuple:
    return tuple(round(float(v), 3) for v in operands)


def read_form(reader, form) -> list:
    """The painted paths and the text objects of a matplotlib form XObject of `reader`, in
    drawing order and in the form's coordinates."""
    from pypdf.generic import ContentStream

    state = {"stroke": (0.0,), "fill": (0.0,), "dash": (), "width": 1.0}
    state |= {"shift": (0.0, 0.0), "scale": 1.0}
    saved, subpaths, items, runs, last = [], [], [], None, None
    size, line = 0.0, (0.0, 0.0)

    def at(x, y):
        return float(x) + state["shift"][0], float(y) + state["shift"][1]

    for args, operator in ContentStream(form, reader).operations:
        op = operator.decode()
        if op == "q":
            saved.append(dict(state))
        elif op == "Q":
            state = saved.pop()
        elif op == "cm":  # matplotlib's forms only translate, but for glyphs (and scale)
            state["shift"], state["scale"] = at(args[4], args[5]), float(args[0])
        elif op in ("RG", "G"):
            state["stroke"] = _colour(args)
        elif op in ("rg", "g"):
            state["fill"] = _colour(args)
        elif op == "d":
            state["dash"] = tuple(round(float(v), 3) for v in args[0])
        elif op == "w":
            state["width"] = float(args[0])
        elif op == "m":
            subpaths.append([at(*args)])
        elif op == "l":
            subpaths[-1].append(at(*args))
        elif op == "re":
            x, y, w, h = map(float, args)
            subpaths.append([at(x, y), at(x + w, y), at(x + w, y + h), at(x, y + h)])
        elif op in ("S", "f", "f*", "B", "B*", "b", "n"):
            if op != "n" and subpaths:
                points = np.array([p for sub in subpaths for p in sub], dtype=float)
                style = {k: v for k, v in state.items() if k not in ("shift", "scale")}
                items.append(Path(op[0], points, **style))
                last = None
            subpaths = []
        elif op == "BT":
            runs, line = [], (0.0, 0.0)
        elif op == "Tf":
            size = float(args[1])
        elif op == "Tm":
            line = (float(args[4]), float(args[5]))
        elif op == "Td":
            line = (line[0] + float(args[0]), line[1] + float(args[1]))
        elif op == "Tj":
            runs.append((str(args[0]), *at(*line), size))
        elif op == "Do":  # a glyph drawn as a form of its own, scaled from 1000 units
            glyph = (GLYPHS.get(str(args[0]).rsplit("-", 1)[-1], "?"), *state["shift"])
            if runs is not None:
                runs.append((glyph[0], *at(*line), size))
            elif last and abs(glyph[2] - last[0][2]) < last[0][3] and glyph[1] < items[-1].end:
                last.append((*glyph, 1000 * state["scale"]))  # right after a text: part of it
                items[-1] = _text(sorted(last, key=lambda run: run[1]))
        elif op == "ET":
            if runs:
                items.append(_text(runs))
            runs, last = None, runs
    return items


def _text(runs) -> Text:
    main = max(size for *_, size in runs)
    last_text, last_x, _, last_size = runs[-1]
    return Text(
        "".join(s for s, *_ in runs),
        runs[0][1],
        runs[0][2],
        main,
        last_x + DIGIT_EM * last_size * len(last_text),
        "".join(s for s, *_, size in runs if size == main),
        "".join(s for s, *_, size in runs if size < main),
    )
