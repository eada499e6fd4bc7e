"""Numbers and statistical symbols as APA 7 prints them (American Psychological Association,
2020, sections 6.36-6.46), for the HTML report.

* Statistics that cannot exceed 1 in absolute value (p, r, alpha, omega, standardised
  loadings, CFI, TLI, RMSEA, SRMR, ICC, rwg, proportions) are shown without a leading zero
  (``.791``); every other number keeps it (``0.478``).
* p-values: three decimals, ``< .001`` below that (an exact 0 from floating-point underflow
  is shown the same way; results.json and tables.xlsx keep the value computed).
* A value compared with a cut-off is shown with as many decimals as it takes to keep it on its
  side of the cut-off: an ICC(2) of 0.69990 flagged "< .70" is printed ``.6999``, never
  ``.700``, so that no rounded number contradicts the flag beside it (:func:`side_decimals`).
* Latin-letter statistical symbols are italic (*p*, *n*, *M*, *SD*, *SE*, *B*, *t*, *z*, *F*,
  *r*, *R*\\ :sup:`2`, *df*); Greek letters (alpha, beta, chi) and abbreviations (CFI, RMSEA,
  ICC) are not (APA 7, 6.45).

Everything here returns text (plain or :class:`markupsafe.Markup` with the input escaped),
so user-supplied names never become markup.
"""

from __future__ import annotations

import math
import re

import numpy as np
from markupsafe import Markup, escape

#: Latin-letter statistical symbols set in italics (APA 7, 6.45).
ITALIC = ("p", "n", "N", "M", "SD", "SE", "B", "b", "t", "z", "F", "r", "R", "df", "k", "h")


def is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def side_decimals(value: float, decimals: int, cut: float | None, *, absolute: bool = False,
                  above: bool = False, most: int = 10) -> int:
    """The decimals that keep a flagged ``value`` shown on its side of ``cut``.

    A flag marks values below the cut-off (alpha < .70, ICC(2) < .70, CFI < .95), or above it
    with ``above`` (HTMT > .85, RMSEA > .06). With ``decimals`` places, a flagged value can
    round onto the cut-off (0.69990 -> 0.700 beside "< .70"); one more place at a time is
    added, up to ``most``, until it no longer does. Unflagged values that round onto the
    cut-off (0.70004 -> .700, not flagged) agree with their flag and keep ``decimals``.
    ``absolute`` compares |value|.
    """
    if cut is None or value is None or not math.isfinite(value):
        return decimals
    v = abs(value) if absolute else value
    flagged = v > cut if above else v < cut
    if not flagged:
        return decimals
    d = decimals
    while d < most and (round(v, d) <= cut if above else round(v, d) >= cut):
        d += 1
    return d


def fmt_number(value, decimals: int | None = None, *, bounded: bool = False,
               cut: float | None = None, absolute_cut: bool = False,
               above: bool = False) -> str:
    """A number as the report shows it: ``decimals`` places (3 by default; integers and
    whole floats as integers with thousands separators), a bounded statistic without the
    leading zero, and enough places to stay on its side of ``cut``."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return ""
        if decimals is None:
            if v.is_integer() and abs(v) < 1e15:
                return f"{int(v):,}"
            decimals = 3
        decimals = side_decimals(v, decimals, cut, absolute=absolute_cut, above=above)
        text = f"{v:,.{decimals}f}"
        if text.startswith("-") and float(text.replace(",", "")) == 0:
            text = text[1:]  # -0.000 -> 0.000
        if bounded and abs(v) < 1:
            text = text.replace("0.", ".", 1)
        return text
    return str(value)


def fmt_p(value) -> str:
    """A p-value as APA prints it: ``.035``, ``< .001``; ``1.000`` stays."""
    if value is None or not is_number(value) or not math.isfinite(float(value)):
        return ""
    v = float(value)
    if v < 0.001:
        return "< .001"
    text = f"{v:.3f}"
    return text[1:] if text.startswith("0.") else text


def p_phrase(value) -> str:
    """``= .035`` or ``< .001``, for running text after *p*."""
    text = fmt_p(value)
    return text if text.startswith("<") else f"= {text}"


def fmt_df(value) -> str:
    """Degrees of freedom: integers as integers; fractional df (Satterthwaite, Kenward-Roger)
    with two decimals."""
    if value is None or not is_number(value) or not math.isfinite(float(value)):
        return ""
    v = float(value)
    return f"{int(round(v)):,}" if abs(v - round(v)) < 1e-9 else f"{v:.2f}"


# ---- symbols ----------------------------------------------------------------------------------

#: header words shown as APA's symbols (the frame and the workbook keep the plain names)
HEADER_SYMBOLS = {"mean": "<i>M</i>", "sd": "<i>SD</i>", "alpha": "\u03b1",
                  "omega total": "\u03c9<sub>total</sub>", "chi-square": "\u03c7<sup>2</sup>",
                  "\u03c7\u00b2": "\u03c7<sup>2</sup>", "h2": "<i>h</i><sup>2</sup>",
                  "df1": "<i>df</i><sub>1</sub>", "df2": "<i>df</i><sub>2</sub>",
                  "R\u00b2": "<i>R</i><sup>2</sup>", "beta": "\u03b2", "beta SE": "\u03b2 <i>SE</i>",
                  "item-rest r": "item-rest <i>r</i>"}

_SYMBOL = "|".join(sorted((re.escape(s) for s in ITALIC), key=len, reverse=True))
def _subst(text: str, pattern: re.Pattern, render) -> str:
    """``text`` escaped, with each match of ``pattern`` (found in the raw text) replaced by
    ``render(match)`` (markup built from escaped parts)."""
    out, at = [], 0
    for m in pattern.finditer(text):
        out.append(str(escape(text[at:m.start()])))
        out.append(render(m))
        at = m.end()
    out.append(str(escape(text[at:])))
    return "".join(out)


_HEADER_WORDS = re.compile(r"chi-square|\u03c7\u00b2|R\u00b2|rwg\(j\)|\bdf(\d)\b|"
                           rf"(?<![\w\u00b2.<>/-])(?:{_SYMBOL})(?![\w\u00b2(<>/-])")


def _header_piece(m: re.Match) -> str:
    w = m.group(0)
    if w in ("chi-square", "\u03c7\u00b2"):
        return "\u03c7<sup>2</sup>"
    if w == "R\u00b2":
        return "<i>R</i><sup>2</sup>"
    if w == "rwg(j)":
        return "<i>r</i><sub>wg(j)</sub>"
    if m.group(1):
        return f"<i>df</i><sub>{m.group(1)}</sub>"
    return f"<i>{escape(w)}</i>"


def header_html(label: str) -> Markup:
    """A column header with APA's symbols: italic Latin symbols, M and SD for mean and sd,
    Greek letters for alpha, omega, chi-square; everything else escaped."""
    text = str(label)
    if text in HEADER_SYMBOLS:
        return Markup(HEADER_SYMBOLS[text])
    return Markup(_subst(text, _HEADER_WORDS, _header_piece))


_TEXT_WORDS = re.compile(
    rf"R\u00b2|rwg\(j\)|(?<![\w\u00b2.'<>/-])({_SYMBOL})"
    rf"(?=(?:\([\d,.\s]+\))?\s?(?:=|<|>|\u2264|\u2265|\u2260)\s)")


def _text_piece(m: re.Match) -> str:
    w = m.group(0)
    if w == "R\u00b2":
        return "<i>R</i><sup>2</sup>"
    if w == "rwg(j)":
        return "<i>r</i><sub>wg(j)</sub>"
    return f"<i>{escape(w)}</i>"


def text_html(text: str) -> Markup:
    """Running text (notes, methods, highlights) escaped, with the statistical symbols that
    are followed by a relation (``p < .001``, ``n = 300``, ``F(2, 9) = 3.1``) in italics and
    ``R²`` and rwg(j) as symbols."""
    return Markup(_subst(str(text), _TEXT_WORDS, _text_piece))

