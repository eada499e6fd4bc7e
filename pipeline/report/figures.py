"""Figures of the report, each written as SVG (inlined in report.html) and PNG.

* ``scree``: eigenvalues of the item correlation matrix with the parallel-analysis reference
  (Horn 1965) and the Kaiser line;
* ``interaction_<model>``: predicted outcome over the focal predictor at the moderator's
  mean - 1 SD, mean and mean + 1 SD, with 95% bands (from ``ModelResult.interaction_plot_data``);
* ``jn_<model>``: the focal predictor's conditional slope over the moderator with its confidence
  band and the Johnson-Neyman region of significance (``ModelResult.johnson_neyman_plot_data``);
* ``network``: the tie network coloured by group (cluster) and sized by social capital, laid out
  by igraph's Fruchterman-Reingold algorithm; networks above :data:`MAX_NETWORK_NODES` nodes are
  drawn as a seeded snowball sample, which the caption says.

The figures are drawn with the small hand-built canvas of :mod:`.svgplot` rather than
matplotlib, on evidence from ``benchmarks/bench_report.py`` (2,000-respondent study, 2-core
reference machine): the matplotlib scree figure took 0.13-0.18 s to draw and save against
0.04-0.06 s here, and importing matplotlib.pyplot (with openpyxl) cost 0.88 s in a run that had
not loaded it against 0.11 s for everything the report imports now; the whole report stage fell
from ~1.2 s to ~0.5 s. (python-igraph would import matplotlib.pyplot too, whenever matplotlib is
installed; :func:`pipeline.network.import_igraph` hides it, so no run imports it.) The SVG is
deterministic -- no dates, no random ids, coordinates rounded to 0.01 px -- and the network
layout and sample use the study seed, so two runs write the same bytes.

Large networks: the drawing needs the tie list once (factorising the ids, a CSR adjacency for
the snowball sample); 10^5 nodes draw in ~0.6 s and 10^6 nodes (3 x 10^6 ties) in ~5 s, most of
it reading the string ids.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.report.svgplot import INK, MUTED, PALETTE, Axes, Canvas, legend, padded

MAX_NETWORK_NODES = 1500

# interaction plot styles for mean - 1 SD, mean, mean + 1 SD of the moderator
_LEVEL_STYLE = {"-1 SD": ("#0072B2", (6, 3)), "mean": ("#5b6675", None),
                "+1 SD": ("#D55E00", None)}


@dataclass(frozen=True)
class Figure:
    """One figure: its SVG text (inlined in report.html) and where it goes in the report."""

    key: str  # file name stem in figures/
    title: str
    svg: str
    section: str
    caption: str = ""
    group: str = ""  # e.g. the model a figure belongs to


def make_figures(results: dict, folder: Path, *, artefacts: dict,
                 submit=None) -> list[Figure]:
    """Draw every figure the results support; write ``<key>.svg`` and ``<key>.png``.

    ``submit``: ``submit(canvas, path)`` rasterises the PNG elsewhere (a second process or
    thread, see :func:`pipeline.report.write_report`); default here and now."""
    folder = Path(folder)
    figures: list[Figure] = []
    efa = results.get("efa") or {}
    if efa.get("eigenvalues"):
        canvas, caption = scree_figure(efa)
        figures.append(Figure("scree", "Scree Plot With Parallel Analysis",
                              canvas.write(folder, "scree", submit), "efa", caption))
    cfa = results.get("cfa") or {}
    if cfa.get("loadings"):
        canvas, caption = cfa_figure(cfa)
        figures.append(Figure("cfa_path", "Path Diagram of the CFA Model",
                              canvas.write(folder, "cfa_path", submit), "cfa", caption))
    if artefacts.get("ties") is not None and results.get("network"):
        seed = (results.get("study") or {}).get("seed") or 0
        canvas, caption = network_figure(artefacts, results, seed=int(seed))
        figures.append(Figure("network", "The Tie Network", canvas.write(folder, "network", submit),
                              "network", caption))
    fitted = artefacts.get("models") or {}
    models_cfg = {m.get("name"): m for m in
                  ((results.get("config") or {}).get("analysis") or {}).get("models") or []}
    used_keys: set[str] = set()
    for name, m in (results.get("models") or {}).items():
        res = fitted.get(name)
        if res is None or not (m.get("focal") and m.get("moderator")):
            continue
        key = _safe_key(name, used_keys)
        plot = res.interaction_plot_data()
        if len(plot):
            canvas, caption = interaction_figure(m, plot, models_cfg.get(name) or {})
            figures.append(Figure(f"interaction_{key}", f"Interaction Plot of Model '{name}'",
                                  canvas.write(folder, f"interaction_{key}", submit), "models",
                                  caption, group=name))
        jn = res.johnson_neyman_plot_data()
        if len(jn):
            canvas, caption = johnson_neyman_figure(m, jn, models_cfg.get(name) or {})
            figures.append(Figure(f"jn_{key}", f"Johnson-Neyman Plot of Model '{name}'",
                                  canvas.write(folder, f"jn_{key}", submit), "models", caption,
                                  group=name))
    return figures


def _safe_key(name: str, used: set[str]) -> str:
    """A file-name-safe stem for a user-chosen model name (which is escaped elsewhere), unique
    among ``used`` (case-insensitively: file systems may fold case), which it joins. Names
    that differ only in characters a file name cannot hold ('触媒効果' and '地域差', or 'a b'
    and 'a_b') get _2, _3 ... instead of overwriting each other's figures."""
    key = "".join(ch if (ch.isascii() and (ch.isalnum() or ch in "-_")) else "_" for ch in name)
    key = key.strip("_") or "model"
    stem, k = key, 2
    while key.lower() in used:
        key, k = f"{stem}_{k}", k + 1
    used.add(key.lower())
    return key


def _scaled_name(var: str, cfg: dict) -> str:
    if var in (cfg.get("standardize") or []):
        return f"{var} (z-score)"
    if var in (cfg.get("center") or []):
        return f"{var} (centred)"
    return var


def _outcome(formula: str) -> str:
    return formula.split("~", 1)[0].strip() if "~" in formula else "outcome"


def _fmt(v: float, digits: int = 3) -> str:
    """Short number for captions and legends (3 significant decimals, minus sign)."""
    if v is None or not math.isfinite(v):
        return "n/a"
    s = f"{v:.{digits}g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.{digits}f}"
    return s.replace("-", "\u2212")


# ---- scree -------------------------------------------------------------------------------


def scree_figure(efa: dict) -> tuple[Canvas, str]:
    ev = [float(v) for v in efa["eigenvalues"]]
    pe = [float(v) for v in (efa.get("parallel_eigenvalues") or []) if v is not None]
    k = efa.get("n_factors")
    c = Canvas(640, 360, "Scree plot: observed eigenvalues and the parallel-analysis reference")
    p = len(ev)
    ymax = max(ev + pe + [1.0])
    ax = Axes(c, 64, 18, 620, 300, (0.5, p + 0.5), (0.0, ymax * 1.06))
    step = 1 if p <= 25 else (2 if p <= 50 else max(5, round(p / 10 / 5) * 5))
    xt = [float(i) for i in range(1, p + 1) if (i - 1) % step == 0]
    ax.frame("factor (component) number", "eigenvalue", xticks=(xt, 0))
    c.line(ax.left, ax.y(1.0), ax.right, ax.y(1.0), "#8a939e", 1, dash=(2, 3))
    c.text(ax.right - 4, ax.y(1.0) - 5, "Kaiser criterion (eigenvalue 1)", 9, "end", MUTED)
    if isinstance(k, int) and 1 <= k <= p:
        c.line(ax.x(k + 0.5), ax.top, ax.x(k + 0.5), ax.bottom, "#b9c0c8", 1, dash=(4, 3))
        c.text(ax.x(k + 0.5) + 5, ax.top + 12, f"{k} factor{'s' if k != 1 else ''} extracted", 9,
               "start", MUTED)
    obs = ax.xy([(i + 1, v) for i, v in enumerate(ev)])
    c.polyline(obs, PALETTE[0], 1.8)
    c.markers(obs, "circle", 7, PALETTE[0])
    entries = [{"label": "observed eigenvalues", "color": PALETTE[0], "marker": "circle"}]
    if pe:
        par = ax.xy([(i + 1, v) for i, v in enumerate(pe)])
        c.polyline(par, PALETTE[5], 1.5, dash=(5, 3))
        c.markers(par, "square", 5.5, PALETTE[5])
        entries.append({"label": "parallel analysis (simulated data)", "color": PALETTE[5],
                        "marker": "square", "dash": (5, 3)})
    legend(c, entries, ax.right - 220, ax.top + 24)
    settings = efa.get("parallel_settings") or {}
    q = settings.get("quantile")
    iters = settings.get("n_iter")
    ref = ""
    if pe:
        ref = (" The parallel-analysis line is the "
               + (f"{q * 100:.0f}th percentile" if isinstance(q, (int, float)) else "reference")
               + " of eigenvalues from "
               + (f"{iters} " if iters else "")
               + "simulated normal data sets of the same size (Horn 1965);"
               " factors whose observed eigenvalue lies above it are retained.")
    caption = ("Eigenvalues of the pairwise-complete item correlation matrix." + ref
               + (f" {k} factor{'s were' if k != 1 else ' was'} extracted."
                  if isinstance(k, int) else ""))
    return c, caption


# ---- interaction -------------------------------------------------------------------------


def interaction_figure(model: dict, plot: pd.DataFrame, cfg: dict) -> tuple[Canvas, str]:
    family = model.get("family", "gaussian")
    focal, moderator = model["focal"], model["moderator"]
    y = _outcome(model.get("formula", ""))
    ylabel = {"gaussian": y, "poisson": f"expected {y}", "negbin": f"expected {y}",
              "logit": f"P({y} = 1)"}.get(family, y)
    c = Canvas(640, 380, f"Interaction plot: {ylabel} over {focal} at three values of {moderator}")
    lo = float(np.nanmin(plot[["response_low", "response"]].to_numpy()))
    hi = float(np.nanmax(plot[["response_high", "response"]].to_numpy()))
    ylim = padded(lo, hi, 0.04)
    if family == "logit":
        ylim = (max(0.0, ylim[0]), min(1.0, ylim[1]))
    elif family in ("poisson", "negbin"):
        ylim = (max(0.0, ylim[0]), ylim[1])
    xlim = (float(plot["focal"].min()), float(plot["focal"].max()))
    ax = Axes(c, 66, 16, 440, 316, xlim, ylim)
    ax.frame(_scaled_name(focal, cfg), ylabel)
    raw = {s.get("at"): s.get("moderator_value_raw") for s in model.get("simple_slopes") or []}
    entries = []
    for at, part in plot.groupby("at", sort=False):
        color, dash = _LEVEL_STYLE.get(str(at), (INK, None))
        xs = part["focal"].to_numpy(float)
        band = ax.xy(zip(xs, part["response_low"].to_numpy(float)))
        band += ax.xy(zip(xs[::-1], part["response_high"].to_numpy(float)[::-1]))
        c.polygon(band, color, 0.12)
    for at, part in plot.groupby("at", sort=False):
        color, dash = _LEVEL_STYLE.get(str(at), (INK, None))
        c.polyline(ax.xy(zip(part["focal"].to_numpy(float), part["response"].to_numpy(float))),
                   color, 2.0, dash=dash)
        value = float(part["moderator_value"].iloc[0])
        label = {"-1 SD": "mean \u2212 1 SD", "+1 SD": "mean + 1 SD"}.get(str(at), str(at))
        shown = raw.get(at) if raw.get(at) is not None else value
        entries.append({"label": f"{label} ({_fmt(shown)})", "color": color, "dash": dash,
                        "width": 2.0})
    c.text(456, 30, f"{moderator}:", 10, "start", INK, bold=True)
    legend(c, entries, 456, 38)
    c.text(456, 38 + 17 * len(entries) + 16, "bands: 95% confidence", 9, "start", MUTED)
    scale = {"gaussian": "", "logit": " through the logistic link",
             "poisson": " through the log link", "negbin": " through the log link"}.get(family, "")
    caption = (f"Predicted {ylabel} over the observed range of {focal} at {moderator} = mean "
               f"\u2212 1 SD, mean and mean + 1 SD (values in the legend on {moderator}'s own "
               f"scale), other predictors at their means; 95% Wald bands from the model's "
               f"covariance matrix{scale}.")
    return c, caption


# ---- Johnson-Neyman ------------------------------------------------------------------------


def johnson_neyman_figure(model: dict, jn: pd.DataFrame, cfg: dict) -> tuple[Canvas, str]:
    focal, moderator = model["focal"], model["moderator"]
    info = model.get("johnson_neyman") or {}
    c = Canvas(640, 380, f"Johnson-Neyman plot: conditional slope of {focal} over {moderator}")
    w = jn["moderator_value"].to_numpy(float)
    lo = min(float(jn["ci_low"].min()), 0.0)
    hi = max(float(jn["ci_high"].max()), 0.0)
    ax = Axes(c, 66, 16, 440, 316, (float(w.min()), float(w.max())), padded(lo, hi, 0.04))
    sig = jn["significant"].to_numpy(bool)
    # shade the moderator values where the slope differs from zero
    start = None
    for i in range(len(w) + 1):
        on = i < len(w) and sig[i]
        if on and start is None:
            start = i
        if not on and start is not None:
            a = w[start] if start == 0 else (w[start - 1] + w[start]) / 2
            b = w[i - 1] if i == len(w) else (w[i - 1] + w[i]) / 2
            c.rect(ax.x(a), ax.top, ax.x(b) - ax.x(a), ax.bottom - ax.top, fill="#009E73",
                   opacity=0.08)
            start = None
    ax.frame(_scaled_name(moderator, cfg), f"slope of {focal}")
    band = ax.xy(zip(w, jn["ci_low"].to_numpy(float)))
    band += ax.xy(zip(w[::-1], jn["ci_high"].to_numpy(float)[::-1]))
    c.polygon(band, PALETTE[0], 0.16)
    c.line(ax.left, ax.y(0), ax.right, ax.y(0), INK, 1, dash=(3, 3))
    c.polyline(ax.xy(zip(w, jn["slope"].to_numpy(float))), PALETTE[0], 2.0)
    for x, y, anchor, label in bound_labels(ax, info.get("bounds_in_range") or []):
        c.line(x, ax.top, x, ax.bottom, PALETTE[5], 1.2, dash=(5, 3))
        c.text(x + (4 if anchor == "start" else -4), y, label, 9, anchor, LABEL_ORANGE)
    level = 1 - float(info.get("alpha") or 0.05)
    entries = [{"label": f"slope of {focal}", "color": PALETTE[0], "width": 2.0},
               {"label": f"{level * 100:.0f}% confidence band", "color": PALETTE[0], "band": True,
                "opacity": 0.16},
               {"label": f"slope \u2260 0 (p < {1 - level:.2f})", "color": "#009E73", "band": True,
                "opacity": 0.16},
               {"label": "Johnson-Neyman bound", "color": PALETTE[5], "dash": (5, 3)}]
    legend(c, entries, 456, 30)
    dist = info.get("distribution", "normal")
    crit = info.get("critical_value")
    summary = info.get("summary") or ""
    caption = (f"Conditional slope of {focal} (linear-predictor scale) over the observed range of "
               f"{moderator}, with its {level * 100:.0f}% confidence band (critical value "
               f"{_fmt(crit)} from the {dist} distribution); shaded: where the slope differs "
               f"from zero. Johnson-Neyman (Johnson & Neyman 1936; Bauer & Curran 2005): "
               f"{summary}.")
    return c, caption


LABEL_ORANGE = "#a8470a"  # PALETTE[5] darkened to 5.3:1 on white for small text (WCAG AA)


def bound_labels(ax: Axes, bounds, size: float = 9.0) -> list[tuple[float, float, str, str]]:
    """Where each Johnson-Neyman bound's label goes: ``(x, y, anchor, text)``.

    A label is written right of its line, or left of it when it would cross the plot's right
    edge; a label that would overlap the one before it (two bounds close together) moves down
    one line, so no two labels are printed on top of each other."""
    out: list[tuple[float, float, str, str]] = []
    placed: list[tuple[float, float, float]] = []  # (left, right, y) of labels placed
    for b in sorted(v for v in bounds if v is not None):
        x = ax.x(b)
        text = f"JN bound {_fmt(b)}"
        width = 0.56 * size * len(text)
        anchor = "start" if x + 4 + width <= ax.right else "end"
        left = x + 4 if anchor == "start" else x - 4 - width
        y = ax.top + 12
        while any(not (left + width < pl or left > pr) and abs(y - py) < size + 2
                  for pl, pr, py in placed):
            y += size + 4
        placed.append((left, left + width, y))
        out.append((x, y, anchor, text))
    return out


# ---- CFA path diagram --------------------------------------------------------------------


def _ellipse(c: Canvas, cx: float, cy: float, rx: float, ry: float, fill: str,
             stroke: str = INK) -> None:
    pts = [(cx + rx * math.cos(t), cy + ry * math.sin(t))
           for t in np.linspace(0, 2 * math.pi, 49)]
    c.polygon(pts[:-1], fill)
    c.polyline(pts, stroke, 1.2)


def _arrow(c: Canvas, x1: float, y1: float, x2: float, y2: float, color: str = INK,
           dash=None) -> None:
    """A line from (x1, y1) to (x2, y2) with an arrowhead at the end."""
    c.line(x1, y1, x2, y2, color, 1.0, dash=dash)
    ang = math.atan2(y2 - y1, x2 - x1)
    h, w = 7.0, 3.2
    bx, by = x2 - h * math.cos(ang), y2 - h * math.sin(ang)
    c.polygon([(x2, y2), (bx + w * math.sin(ang), by - w * math.cos(ang)),
               (bx - w * math.sin(ang), by + w * math.cos(ang))], color)


def _std(v) -> str:
    """A standardised loading as APA prints it (no leading zero)."""
    if v is None or not math.isfinite(v):
        return "n/a"
    text = f"{v:.2f}"
    text = text.replace("0.", ".", 1) if abs(v) < 1 else text
    return text.replace("-", "\u2212")


def _fit3(v) -> str:
    """A fit index with three decimals, no leading zero (CFI .998 must not read 1.00)."""
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.3f}".replace("0.", ".", 1)


def cfa_figure(cfa: dict) -> tuple[Canvas, str]:
    """The CFA as a path diagram: latent factors as ellipses, indicators as boxes, each arrow
    labelled with its completely standardised loading (lavaan std.all); a second-order factor
    above the first-order ones. Dashed arrows: the loadings fixed at 1 to set each factor's
    scale."""
    first = {f: items for f, items in (cfa.get("loadings") or {}).items() if items}
    higher = {h: parts for h, parts in (cfa.get("higher_order") or {}).items() if parts}
    items = [(f, i) for f, its in first.items() for i in its]
    box_w, gap, group_gap = 20.0, 6.0, 18.0
    width_items = len(items) * (box_w + gap) + group_gap * max(len(first) - 1, 0)
    width = int(max(640.0, width_items + 60.0))
    top = 60.0 if higher else 20.0
    f_y, i_top, box_h = top + 120.0, top + 230.0, 64.0
    height = int(i_top + box_h + 24)
    names = ", ".join(list(higher) + list(first))
    c = Canvas(width, height, f"Path diagram of the confirmatory factor model: {names}")
    x = (width - width_items) / 2
    item_x: dict[tuple[str, str], float] = {}
    factor_x: dict[str, float] = {}
    for f, its in first.items():
        xs = []
        for i in its:
            item_x[(f, i)] = x + box_w / 2
            xs.append(x + box_w / 2)
            x += box_w + gap
        x += group_gap - gap
        factor_x[f] = (xs[0] + xs[-1]) / 2
    fixed_color = MUTED
    for (f, i), ix in item_x.items():
        v = first[f][i] or {}
        fixed = v.get("se") == 0
        rx = 46.0
        start_x = factor_x[f] + max(-rx * 0.8, min(rx * 0.8, (ix - factor_x[f]) * 0.35))
        _arrow(c, start_x, f_y + 18, ix, i_top, fixed_color if fixed else INK,
               dash=(4, 3) if fixed else None)
        c.rect(ix - 11, i_top - 24, 22, 12, fill="#ffffff")
        c.text(ix, i_top - 18, _std(v.get("std")), 8.5, "middle", INK, valign="middle")
        c.rect(ix - box_w / 2, i_top, box_w, box_h, fill="#ffffff", stroke=INK, width=1.0)
        c.text(ix, i_top + box_h / 2, i, 9, "middle", INK, rotate=-90, valign="middle")
    for f, fx in factor_x.items():
        label_w = max(40.0, 3.3 * len(f) + 14)
        _ellipse(c, fx, f_y, label_w, 18.0, "#eef3f8")
        c.text(fx, f_y, f, 10, "middle", INK, bold=True, valign="middle")
    for h, parts in higher.items():
        hx = sum(factor_x.get(p, width / 2) for p in parts) / max(len(parts), 1)
        hy = top
        for p, v in parts.items():
            if p not in factor_x:
                continue
            v = v or {}
            fixed = v.get("se") == 0
            _arrow(c, hx, hy + 18, factor_x[p], f_y - 18, fixed_color if fixed else INK,
                   dash=(4, 3) if fixed else None)
            mx, my = (hx + factor_x[p]) / 2, (hy + 18 + f_y - 18) / 2
            c.rect(mx - 14, my - 8, 28, 14, fill="#ffffff")
            c.text(mx, my, _std(v.get("std")), 9, "middle", INK, valign="middle")
        _ellipse(c, hx, hy, max(56.0, 3.3 * len(h) + 16), 18.0, "#e3ecf5")
        c.text(hx, hy, h, 10, "middle", INK, bold=True, valign="middle")
    fit = cfa.get("fit") or {}
    caption = (
        "Latent factors (ellipses) and their indicators (boxes); each arrow is labelled with "
        "its completely standardised loading (lavaan std.all). Dashed arrows: the loading "
        "fixed at 1 to set the factor's scale. Residual variances, indicator R\u00b2 and "
        + ("the factor correlations" if not higher else "the factor disturbances")
        + " are in the tables above"
        + (f"; model fit: CFI = {_fit3(fit.get('cfi'))}, RMSEA = {_fit3(fit.get('rmsea'))}."
           if fit.get("cfi") is not None else "."))
    return c, caption


# ---- network -----------------------------------------------------------------------------


def snowball_sample(a: np.ndarray, b: np.ndarray, n: int, size: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Node ids (0..n-1) of a breadth-first (snowball) sample of ``size`` nodes.

    Starts at a random node, takes neighbours ring by ring (in random order within a ring,
    cut at ``size``), and restarts from a random unvisited node when a component is exhausted.
    Ties are used in both directions. Returns the sample in the order visited.
    """
    if n <= size:
        return np.arange(n)
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    order = np.argsort(src, kind="stable")
    nbr = dst[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    seen = np.zeros(n, dtype=bool)
    taken: list[int] = []
    while len(taken) < size:
        start = int(rng.integers(n))
        while seen[start]:
            start = int(rng.integers(n))
        seen[start] = True
        taken.append(start)
        frontier = np.array([start])
        while frontier.size and len(taken) < size:
            nb = np.concatenate([nbr[indptr[v]:indptr[v + 1]] for v in frontier])
            nb = np.unique(nb)
            nb = nb[~seen[nb]]
            if nb.size == 0:
                break
            nb = rng.permutation(nb)[: size - len(taken)]
            seen[nb] = True
            taken.extend(int(v) for v in nb)
            frontier = nb
    return np.array(taken[:size])


def _layout(n: int, edges: np.ndarray, seed: int) -> np.ndarray:
    """Fruchterman-Reingold coordinates (n x 2) from igraph, deterministic for a seed.

    igraph draws from Python's ``random`` module by default; a private ``random.Random(seed)``
    is installed for the call and the default restored after it, and the start positions come
    from the same seed.
    """
    from pipeline.network import import_igraph  # noqa: PLC0415  (igraph without matplotlib)

    igraph = import_igraph()

    g = igraph.Graph(n=n, edges=edges.tolist() if len(edges) else [])
    start = np.random.default_rng(seed).uniform(-1, 1, (n, 2)) * math.sqrt(n)
    igraph.set_random_number_generator(random.Random(seed))
    try:
        layout = g.layout_fruchterman_reingold(seed=start.tolist(), niter=500, grid=n > 100)
    finally:
        igraph.set_random_number_generator(random)
    return np.asarray(layout.coords, dtype=float)


def _size_column(results: dict, units: pd.DataFrame | None) -> str | None:
    if units is None:
        return None
    cols = list((results.get("scores") or {}).get("columns") or [])
    for c in ["social_capital"] + cols[::-1]:
        if c in units.columns and pd.api.types.is_numeric_dtype(units[c]):
            return c
    return None


def network_figure(artefacts: dict, results: dict, *, seed: int,
                   max_nodes: int = MAX_NETWORK_NODES) -> tuple[Canvas, str]:
    ties = artefacts["ties"]
    edges = ties.edges if hasattr(ties, "edges") else ties
    units = artefacts.get("units")
    cleaned = artefacts.get("cleaned")
    group_col = getattr(cleaned, "group_column", None)
    # node ids: every tie end (coded as the network measures code them: from the tie list's
    # shared categories, no 10^6 strings), then units without ties (isolates are nodes too)
    from pipeline.network import edge_codes  # noqa: PLC0415

    uniq, a, b = edge_codes(edges)
    ids = pd.Index(uniq, dtype=object).astype(str)
    unit_index = pd.Index(units.index.astype(str)) if units is not None else None
    if unit_index is not None and len(unit_index):
        ids = ids.append(unit_index.difference(ids, sort=False))
    n = len(ids)
    total_edges = int(len(edges))
    rng = np.random.default_rng(seed)
    sample = snowball_sample(a, b, n, max_nodes, rng)
    sampled = len(sample) < n
    pos_of = np.full(n, -1, dtype=np.int64)
    pos_of[sample] = np.arange(len(sample))
    keep = (pos_of[a] >= 0) & (pos_of[b] >= 0)
    ea, eb = pos_of[a[keep]], pos_of[b[keep]]
    lo, hi = np.minimum(ea, eb), np.maximum(ea, eb)
    pairs = np.unique(np.column_stack([lo, hi]), axis=0) if lo.size else np.zeros((0, 2), int)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    m = len(sample)
    xy = _layout(m, pairs, seed)

    c = Canvas(760, 560, "The tie network coloured by group and sized by social capital")
    box = (14, 14, 546, 546)
    span = np.ptp(xy, axis=0) if m > 1 else np.array([1.0, 1.0])
    span[span == 0] = 1.0
    scale = min((box[2] - box[0]) / span[0], (box[3] - box[1]) / span[1])
    center = (xy.min(axis=0) + xy.max(axis=0)) / 2 if m else np.zeros(2)
    px = (box[0] + box[2]) / 2 + (xy[:, 0] - center[0]) * scale
    py = (box[1] + box[3]) / 2 + (xy[:, 1] - center[1]) * scale

    # the drawn nodes' group and size, looked up in the unit table (vectorised)
    node_ids = ids[sample]
    size_col = _size_column(results, units)
    all_groups: list[str] = []
    node_group = np.array([None] * m, dtype=object)
    values = np.full(m, np.nan)
    is_unit = np.ones(m, bool)
    if units is not None:
        table = units.copy()
        table.index = unit_index
        table = table[~table.index.duplicated()]
        where = table.index.get_indexer(node_ids)  # -1: not a unit (e.g. an institution)
        is_unit = where >= 0
        drawn = table.iloc[np.where(is_unit, where, 0)].set_axis(node_ids)
        drawn = drawn.where(pd.Series(is_unit, index=node_ids), axis=0)
        if group_col and group_col in table.columns:
            g = table[group_col]
            all_groups = sorted(g[g.notna()].astype(str).unique().tolist())
            dg = drawn[group_col]
            node_group = np.where(dg.notna(), dg.astype(str), None)
        if size_col:
            values = pd.to_numeric(drawn[size_col], errors="coerce").to_numpy(float)
    rmin, rmax = (2.5, 8.0) if m <= 400 else ((1.8, 6.0) if m <= 900 else (1.3, 4.5))
    r = np.full(m, rmin)
    finite = np.isfinite(values)
    if finite.any():
        vlo, vhi = float(values[finite].min()), float(values[finite].max())
        frac = (values[finite] - vlo) / (vhi - vlo) if vhi > vlo else np.full(finite.sum(), 0.5)
        r[finite] = rmin + (rmax - rmin) * np.sqrt(frac)
    width = 0.7 if m <= 400 else 0.45
    c.segments([(px[i], py[i], px[j], py[j]) for i, j in pairs], "#7d8894", width, opacity=0.35)

    color_of = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(all_groups)}
    present = set(node_group[is_unit].tolist())
    groups = [g for g in all_groups if g in present]  # the groups drawn
    order = np.argsort(-r, kind="stable")  # small nodes on top of large ones
    by_color: dict = {}
    for i in order:
        if not is_unit[i]:
            continue
        col = color_of.get(node_group[i], PALETTE[0]) if groups else PALETTE[0]
        by_color.setdefault(col, []).append((px[i], py[i], r[i]))
    for col, circles in by_color.items():
        c.circles(circles, col, "#ffffff", 0.5 if m <= 400 else 0.3)
    others = [(px[i], py[i]) for i in range(m) if not is_unit[i]]
    c.markers(others, "diamond", rmin * 2.4, "#8a939e", "#ffffff", 0.5)

    # legend
    x0, y0 = 566, 22
    entries = []
    shown_groups = groups[:14]
    label = group_col or "group"
    if groups:
        c.text(x0, y0, f"{label}:", 10, "start", INK, bold=True)
        y0 += 6
        entries = [{"label": g, "color": color_of[g], "line": False, "marker": "circle",
                    "marker_size": 8} for g in shown_groups]
        y0 += legend(c, entries, x0, y0)
        if len(groups) > len(shown_groups):
            c.text(x0, y0 + 10, f"... {len(groups) - len(shown_groups)} more", 9, "start", MUTED)
            y0 += 16
    if others:
        y0 += 4
        y0 += legend(c, [{"label": "not a surveyed unit", "color": "#8a939e", "line": False,
                          "marker": "diamond", "marker_size": 7}], x0, y0)
    if size_col and finite.any():
        y0 += 18
        c.text(x0, y0, f"size: {size_col}", 10, "start", INK, bold=True)
        y0 += 16
        for v, rr in ((vlo, rmin), (vhi, rmax)):
            c.circles([(x0 + 9, y0, rr)], "#ffffff", INK, 0.8)
            c.text(x0 + 24, y0, _fmt(v), 10, "start", INK, valign="middle")
            y0 += max(2 * rr, 10) + 6

    n_groups = len(groups)
    what = (f"A snowball sample of {m:,} of the network's {n:,} nodes (breadth-first from "
            f"randomly chosen nodes, seed {seed}) with the {len(pairs):,} ties among them "
            f"(of {total_edges:,})" if sampled else
            f"All {n:,} nodes and {len(pairs):,} ties of the network")
    caption = (what + "; layout by the Fruchterman-Reingold algorithm (igraph, seed "
               f"{seed}). "
               + (f"Colour: {label} ({n_groups} group{'s' if n_groups != 1 else ''}"
                  f"{' drawn' if sampled else ''}"
                  f"{'; colours repeat' if len(all_groups) > len(PALETTE) else ''}). "
                  if groups else "")
               + (f"Size: the unit's {size_col} score (square root scale, smallest "
                  f"{_fmt(vlo)}, largest {_fmt(vhi)}). " if size_col and finite.any() else "")
               + ("Grey diamonds: tie partners that are not surveyed units (e.g. institutions)."
                  if others else ""))
    if sampled:
        caption += (" Only a sample is drawn because a drawing of every node would be unreadable;"
                    " every network measure is computed on the whole network.")
    return c, caption.strip()
