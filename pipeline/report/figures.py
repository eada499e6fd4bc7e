"""Figures of the report, each written as SVG (inlined in report.html) and PNG.

matplotlib is imported only here, with the non-interactive Agg backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    svg: str  # the SVG text, inlined in the report
    section: str
    caption: str = ""


def _setup():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.rcParams.update({"svg.hashsalt": "socap", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.dpi": 100,
                         "svg.fonttype": "none"})
    return plt


def _save(fig, folder: Path, key: str) -> str:
    import io  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    (folder / f"{key}.svg").write_text(svg, encoding="utf-8")
    fig.savefig(folder / f"{key}.png", format="png", dpi=150, bbox_inches="tight",
                metadata={"Software": None})
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype for inlining
    return svg


def make_figures(results: dict, folder: Path, *, artefacts: dict) -> list[Figure]:
    plt = _setup()
    figures: list[Figure] = []
    efa = results.get("efa") or {}
    ev = efa.get("eigenvalues")
    if ev:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        x = list(range(1, len(ev) + 1))
        ax.plot(x, ev, "o-", color="#1f4e79", label="observed eigenvalues")
        pe = efa.get("parallel_eigenvalues")
        if pe:
            ax.plot(x[:len(pe)], pe, "s--", color="#c55a11", label="parallel analysis (simulated)")
        ax.axhline(1, color="grey", lw=0.8, ls=":", label="Kaiser criterion (1)")
        ax.set_xlabel("factor")
        ax.set_ylabel("eigenvalue")
        ax.set_xticks(x)
        ax.legend(frameon=False)
        figures.append(Figure("scree", "Scree plot", _save(fig, folder, "scree"), "efa",
                              "Eigenvalues of the item correlation matrix with the parallel-analysis "
                              "reference (Horn 1965)."))
        plt.close(fig)
    return figures
