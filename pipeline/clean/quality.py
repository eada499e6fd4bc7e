"""Quality rules: which responses are excluded, and why.

Each rule is a small function that looks at the responses (:class:`QualityData`) and returns the
rows it would drop with the reason shown for each (:class:`Flag`), or ``None`` when the export
gives it nothing to judge (no ``Status`` column, no duration...). :data:`RULES` lists them in the
order they are applied; each is switched and tuned under ``quality:`` in study.yaml by its name,
and each drops only rows that no earlier rule dropped, so every excluded response has exactly one
rule. To add a rule: write ``def my_rule(q: QualityData, setting, kept) -> Flag | None``, add a
:class:`Rule` to :data:`RULES`, and a field of the same name to
:class:`pipeline.config.study.QualityConfig`.

Rules on by default: platform markers (previews, tests, spam), incomplete responses, speeders,
attention checks (when the instrument declares them), straight-lining (when some items are
reverse-keyed) and too many missing items. The careless-responding indices of the R package
``careless`` (Yentes & Wilhelm) -- ``longstring``, intra-individual response variability
(``irv``), Mahalanobis D^2 (``mahalanobis``) and even-odd consistency (``even_odd``) -- are off
until a threshold is set, since a defensible cut depends on the instrument (Curran 2016).

References
----------
Curran, P. G. (2016). Methods for the detection of carelessly invalid responses in survey data.
*Journal of Experimental Social Psychology, 66*, 4-19.
Dunn, A. M., Heggestad, E. D., Shanock, L. R., & Theilgard, N. (2018). Intra-individual response
variability as an indicator of insufficient effort responding. *Journal of Business and
Psychology, 33*(1), 105-121.
Johnson, J. A. (2005). Ascertaining the validity of individual protocols from web-based
personality inventories. *Journal of Research in Personality, 39*, 103-129.
Meade, A. W., & Craig, S. B. (2012). Identifying careless responses in survey data.
*Psychological Methods, 17*(3), 437-455.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pipeline.clean.text import cell_text, display, display_values, norm
from pipeline.config.instrument import Instrument

# Qualtrics "Status" (Response Type): 0 IP Address, 1 Survey Preview, 2 Survey Test, 4 Imported,
# 8 Spam, 9 Survey Preview Spam, 12 Imported Spam, 16 Offline, 17 Offline Survey Preview, 32 EX,
# 40 EX Spam, 48 EX Offline, 256 Synthetic. Previews, tests, spam and synthetic responses are
# dropped; IP Address, Imported, Offline and EX responses are real ones. Legacy exports: 1 = preview.
PREVIEW_STATUS = {"survey preview", "survey test", "spam", "survey preview spam", "imported spam",
                  "offline survey preview", "ex spam", "synthetic", "preview", "test",
                  "1", "2", "8", "9", "12", "17", "40", "256"}
PREVIEW_CHANNELS = {"preview", "test"}  # Qualtrics DistributionChannel
# SoSci Survey's TIME_SUM and LimeSurvey's interviewtime are durations in seconds too
DURATION_NAMES = ("duration (in seconds)", "duration", "duration_sec", "duration_seconds",
                  "duration (seconds)", "time_taken", "_duration", "duration in seconds",
                  "time_sum", "interviewtime", "total time")
START_END_NAMES = (("startdate", "enddate"), ("start date", "end date"), ("start", "end"),
                   ("starttime", "endtime"), ("start_time", "end_time"),
                   ("start time", "completion time"))  # Microsoft Forms
# SoSci Survey: MODE "pretest" and "debug" are the questionnaire's test runs; Q_VIEWER true a
# "spectator" who paged through without answering the mandatory questions
SOSCI_TEST_MODES = {"pretest", "debug"}
TRUTHY = frozenset({"true", "1", "yes", "y", "t"})
# REDCap's <form>_complete: 0 Incomplete, 1 Unverified, 2 Complete (labels export: the words)
REDCAP_COMPLETE = {"2", "complete"}
FINISHED_NAMES = ("finished", "complete", "completed")
PROGRESS_NAMES = ("progress",)
STATUS_NAMES = ("status",)
CHANNEL_NAMES = ("distributionchannel",)
FALSY = frozenset({"false", "0", "no", "n", "f"})


@dataclass(frozen=True)
class Flag:
    """What a rule would drop.

    ``mask``: rows that fail the rule (the caller keeps only those no earlier rule dropped);
    ``detail``: the reason shown in exclusions.csv -- one text for every row, one per row, or a
    function of the selected rows' mask returning their texts (built only for dropped rows);
    ``notes``: sentences for the report (how the rule was judged)."""

    mask: np.ndarray
    detail: str | np.ndarray | Callable[[np.ndarray], np.ndarray]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QualityData:
    """What the rules look at.

    Attributes
    ----------
    data
        The survey export(s) as read (non-item columns are looked up by name).
    columns
        The export's columns (without ``source_file``/``source_row``).
    codes
        n x p item codes before reverse keying (NaN missing), items in instrument order.
    coded
        A function returning the same codes reverse-keyed where the item is (built on demand).
    instrument
        The study's instrument (constructs, reverse keying, attention checks).
    factorize
        ``column -> (codes, distinct values)`` as ``pandas.factorize`` gives them.
    checks
        Attention-check id -> its coded answers (NaN missing).
    """

    data: pd.DataFrame
    columns: Sequence[str]
    codes: np.ndarray
    coded: Callable[[], np.ndarray]
    instrument: Instrument
    factorize: Callable[[str], tuple[np.ndarray, np.ndarray]]
    checks: Mapping[str, np.ndarray] = field(default_factory=dict)
    layouts: Mapping[str, str] = field(default_factory=dict)  # column -> platform layout
    item_columns: Sequence[str] = ()  # the export columns the items were read from

    def platform_columns(self, layout: str) -> list[str]:
        """The columns an export of ``layout`` wrote, in file order."""
        return [c for c in self.columns if self.layouts.get(c) == layout]

    @cached_property
    def _lower(self) -> dict[str, str]:
        return {norm(c): c for c in self.columns}

    def column(self, names: Sequence[str]) -> str | None:
        """The first export column named (case-insensitively) one of ``names``."""
        for nm in names:
            if norm(nm) in self._lower:
                return self._lower[norm(nm)]
        return None

    @cached_property
    def answered(self) -> np.ndarray:
        """Items answered per row."""
        return (~np.isnan(self.codes)).sum(1)

    def per_value(self, col: str, test: Callable[[str], bool]):
        """(rows whose cell passes ``test`` on its normalised text, a detail function naming the
        cell), computed once per distinct value."""
        codes, uniques = self.factorize(col)
        hit = np.array([test(v) for v in [cell_text(u) for u in uniques] + [""]], dtype=bool)
        shown = np.array(display_values(uniques) + [""], dtype=object)
        return hit[codes], (lambda sel: f"{col} = " + shown[codes[sel]])


@dataclass(frozen=True)
class Rule:
    """A quality rule: its study.yaml key under ``quality:``, the label the report uses, and the
    function ``(QualityData, setting, kept rows) -> Flag | None``. A setting of ``False`` (or
    ``None``) switches the rule off; ``reported_when_off`` rules appear in ``excluded_by_rule``
    with 0 even when off or not applicable (the five original rules, kept for results.json)."""

    name: str
    label: str
    flag: Callable[[QualityData, Any, np.ndarray], Flag | None]
    reported_when_off: bool = False


# ---------------------------------------------------------------------------------------------
# the rules


def _first_of(masks, details) -> Flag | None:
    """One flag from several markers: a row fails when any marker says so, and its detail is
    that of the first marker that does."""
    if not masks:
        return None
    if len(masks) == 1:
        return Flag(masks[0], details[0])
    union = np.zeros(len(masks[0]), bool)
    for m in masks:
        union |= m

    def detail(sel):
        out = np.empty(int(sel.sum()), dtype=object)
        left = sel.copy()
        for m, d in zip(masks, details):
            here = left & m
            if here.any():
                out[here[sel]] = (d if isinstance(d, str) else d(here) if callable(d)
                                  else d[here])
                left &= ~m
        return out
    return Flag(union, detail)


def previews(q: QualityData, setting, kept) -> Flag | None:
    """Qualtrics ``Status`` preview, test, spam or synthetic (text or numeric code, see
    ``PREVIEW_STATUS``) or ``DistributionChannel`` preview/test; SoSci Survey ``MODE`` pretest
    or debug, and ``Q_VIEWER`` true (a spectator who only paged through)."""
    masks, details = [], []
    for names, values in ((STATUS_NAMES, PREVIEW_STATUS), (CHANNEL_NAMES, PREVIEW_CHANNELS)):
        c = q.column(names)
        if c is not None and q.layouts.get(c) not in ("redcap", "sosci"):
            hit, shown = q.per_value(c, values.__contains__)
            masks.append(hit)
            details.append(shown)
    for c in q.platform_columns("sosci"):
        if c == "MODE":
            hit, shown = q.per_value(c, SOSCI_TEST_MODES.__contains__)
        elif c == "Q_VIEWER":
            hit, shown = q.per_value(c, TRUTHY.__contains__)
        else:
            continue
        masks.append(hit)
        details.append(shown)
    return _first_of(masks, details)


def incomplete(q: QualityData, setting, kept) -> Flag | None:
    """``Finished`` false (FALSE/False/0/no; SoSci Survey's ``FINISHED`` 0 or F) or
    ``Progress`` below 100, where present; LimeSurvey's ``submitdate`` empty (a response never
    submitted); REDCap's ``<form>_complete`` other than 2 (Complete) on a form that holds
    instrument items (every form's, when none is known to)."""
    c_fin, c_prog = q.column(FINISHED_NAMES), q.column(PROGRESS_NAMES)
    if c_fin is not None and q.layouts.get(c_fin) == "redcap":
        c_fin = None  # a REDCap field named 'complete' is an answer; *_complete judge
    masks, details = [], []
    if c_fin is not None:
        fin, _ = q.per_value(c_fin, FALSY.__contains__)
        masks.append(fin)
        details.append(f"{c_fin} = false")
    if c_prog is not None:
        prog = pd.to_numeric(q.data[c_prog], errors="coerce").to_numpy(float)
        masks.append(prog < 100)
        details.append("progress " + np.where(np.isnan(prog), "missing",
                                              display(pd.Series(prog))))
    for c in q.platform_columns("limesurvey"):
        if c in ("submitdate", "Date submitted"):
            empty, _ = q.per_value(c, "".__eq__)
            masks.append(empty)
            details.append(f"{c} empty (never submitted)")
    for c in _redcap_forms(q):
        hit, shown = q.per_value(c, lambda v: v not in REDCAP_COMPLETE)
        masks.append(hit)
        details.append(shown)
    if not masks:
        return None
    if len(masks) == 2 and c_fin is not None and c_prog is not None:
        return Flag(masks[0] | masks[1], np.where(masks[0], details[0], details[1]))
    return _first_of(masks, details)


def _redcap_forms(q: QualityData) -> list[str]:
    """The REDCap completion columns that judge a response: ``<form>_complete`` (``Complete?``
    in a labels export) of the forms holding instrument items -- a record export lists each
    form's fields, then its completion column -- or all of them when no item is on any."""
    cols = q.platform_columns("redcap")
    marks = [k for k, c in enumerate(cols) if c.endswith("_complete") or c.startswith("Complete?")]
    if not marks:
        return []
    items = set(q.item_columns)
    with_items, start = [], 0
    for k in marks:
        if items & set(cols[start:k]):
            with_items.append(cols[k])
        start = k + 1
    return with_items or [cols[k] for k in marks]


def speeders(q: QualityData, setting, kept) -> Flag | None:
    """Duration (``Duration (in seconds)``, or end minus start time when only those are given)
    under ``setting`` x the median duration of the responses still kept."""
    c = q.column(DURATION_NAMES)
    notes: tuple[str, ...] = ()
    if c is not None:
        dur, what = pd.to_numeric(q.data[c], errors="coerce").to_numpy(float), c
    else:
        dur = None
        for a, b in START_END_NAMES:
            ca, cb = q.column((a,)), q.column((b,))
            if ca is not None and cb is not None:
                dur = duration_from_dates(q.data, ca, cb)
                what = f"{cb} - {ca}"
                if dur is not None:
                    notes = (f"Speeders were judged on the time between '{ca}' and '{cb}' (the "
                             "export has no duration column).",)
                break
    if dur is None:
        return None
    base = dur[kept & ~np.isnan(dur)]
    if not base.size:
        return Flag(np.zeros(len(dur), bool), "", notes)
    med = float(np.median(base))
    cut = setting * med
    return Flag(dur < cut, f"{what} under {setting:g} x median ({cut:.0f} s of {med:.0f} s)",
                notes)


def attention_checks(q: QualityData, setting, kept) -> Flag | None:
    """An attention-check item of the instrument answered with a code its ``pass:`` list does
    not hold; an unanswered check fails too (Meade & Craig 2012: instructed-response items)."""
    checks = q.instrument.attention_checks
    if not checks or not q.checks:
        return None
    failed = np.zeros(len(q.data), bool)
    which = np.full(len(q.data), "", dtype=object)
    for cid, check in checks.items():
        answers = q.checks.get(cid)
        if answers is None:
            continue
        bad = ~np.isin(answers, np.asarray(check.passing, float))
        which[bad & ~failed] = cid
        failed |= bad

    def detail(sel):
        return "failed attention check " + which[sel].astype(str)
    return Flag(failed, detail)


def straightlining(q: QualityData, setting, kept) -> Flag | None:
    """The same answer on every answered instrument item (at least half of them and three
    answered), checked only when some items are reverse-keyed: without reversed items one answer
    everywhere can be a genuine response. Continuous items (sliders, ``type: continuous``) are
    left out when the instrument also has rating items -- a slider position and a rating code
    are not "the same answer" -- and judged on their own (one position on every slider: the
    sliders left where they started) when all items are continuous."""
    n_items = q.codes.shape[1]
    if not q.instrument.has_reverse_items:
        return Flag(np.zeros(len(q.data), bool), "", (
            "Straight-lining was not checked: the instrument has no reverse-keyed items, so one "
            "answer on every item can be a genuine response.",))
    items = q.instrument.items
    continuous = np.array([i.scale.continuous for i in items], bool) if len(items) == n_items \
        else np.zeros(n_items, bool)
    codes, notes = q.codes, ()
    if continuous.any() and not continuous.all():
        codes = q.codes[:, ~continuous]
        n_items = codes.shape[1]
        notes = (f"Straight-lining was judged on the {n_items} rating items; the "
                 f"{int(continuous.sum())} continuous items were left out of it.",)
    if n_items < 3:
        return None
    lo = np.fmin.reduce(codes, axis=1)  # fmin/fmax skip NaN (all-NaN rows: NaN)
    hi = np.fmax.reduce(codes, axis=1)
    answered = q.answered if codes is q.codes else (~np.isnan(codes)).sum(1)
    same = (lo == hi) & (answered >= max(3, int(np.ceil(n_items / 2))))
    return Flag(same, lambda sel: "same answer on all "
                + pd.Series(answered[sel]).astype(str).to_numpy(dtype=object) + " answered items",
                notes)


def longstring(q: QualityData, setting, kept) -> Flag | None:
    """The longest run of identical consecutive answers (items in instrument order, before
    reverse keying) of ``setting`` items or more (``careless::longstring``)."""
    runs = longest_string(q.codes)
    return Flag(runs >= setting, lambda sel: "longest string of identical answers: "
                + pd.Series(runs[sel]).astype(str).to_numpy(dtype=object) + " items")


def irv(q: QualityData, setting, kept) -> Flag | None:
    """Intra-individual response variability (the SD of a respondent's answers before reverse
    keying, ``careless::irv``) below ``setting`` (Dunn et al. 2018: low IRV flags uniform,
    inattentive answering)."""
    values = response_variability(q.codes)
    with np.errstate(invalid="ignore"):
        low = values < setting
    return Flag(low, lambda sel: "intra-individual response variability "
                + pd.Series(values[sel]).map("{:.3f}".format).to_numpy(dtype=object))


def mahalanobis(q: QualityData, setting, kept) -> Flag | None:
    """Mahalanobis D^2 of the answers above the chi-square quantile ``setting`` with as many
    degrees of freedom as items (``careless::mahad(x, flag = TRUE, confidence = setting)``),
    over the responses the earlier rules kept."""
    from scipy.special import chdtri  # noqa: PLC0415

    d2 = np.full(len(q.data), np.nan)
    d2[kept] = mahalanobis_d2(q.codes[kept])
    cut = float(chdtri(q.codes.shape[1], 1 - setting))
    with np.errstate(invalid="ignore"):
        far = d2 > cut
    return Flag(far, lambda sel: f"Mahalanobis D2 above {cut:.1f}: "
                + pd.Series(d2[sel]).map("{:.1f}".format).to_numpy(dtype=object))


def even_odd(q: QualityData, setting, kept) -> Flag | None:
    """Even-odd consistency (Johnson 2005; ``careless::evenodd`` with one factor per construct,
    which reports its negative) below ``setting``: the Spearman-Brown corrected correlation, over
    a respondent's constructs, between the means of the construct's even- and odd-numbered items
    (reverse-keyed items reversed first)."""
    sizes = [len(c.items) for c in q.instrument.constructs.values()]
    if len(sizes) < 2:
        return Flag(np.zeros(len(q.data), bool), "", (
            "Even-odd consistency was not checked: it needs at least two constructs.",))
    consistency = even_odd_consistency(q.coded(), sizes)
    with np.errstate(invalid="ignore"):
        low = consistency < setting
    return Flag(low, lambda sel: "even-odd consistency "
                + pd.Series(consistency[sel]).map("{:.2f}".format).to_numpy(dtype=object))


def max_missing_share(q: QualityData, setting, kept) -> Flag | None:
    """More than ``setting`` of the instrument's items missing. (Too few valid items for one
    construct only makes that construct's score missing; see :mod:`pipeline.measure.scores`.)"""
    share = 1 - q.answered / max(q.codes.shape[1], 1)
    return Flag(share > setting, lambda sel: "missing "
                + pd.Series(np.round(share[sel] * 100)).astype(int).astype(str).to_numpy(
                    dtype=object) + "% of items")


RULES: tuple[Rule, ...] = (
    Rule("previews", "preview, test or spam response", previews, True),
    Rule("incomplete", "incomplete response (not finished, not submitted, or progress < 100)",
         incomplete, True),
    Rule("speeders", "speeder (duration under the threshold)", speeders, True),
    Rule("attention_checks", "failed attention check", attention_checks),
    Rule("straightlining", "straight-lining (one answer on every item)", straightlining, True),
    Rule("longstring", "long string of identical answers", longstring),
    Rule("irv", "low intra-individual response variability", irv),
    Rule("mahalanobis", "multivariate outlier (Mahalanobis D2)", mahalanobis),
    Rule("even_odd", "low even-odd consistency", even_odd),
    Rule("max_missing_share", "too many items missing", max_missing_share, True),
)
RULE_LABELS = {r.name: r.label for r in RULES}


@dataclass(frozen=True)
class Exclusions:
    """The outcome of the rules: ``rule_of`` (index into ``rules``, -1 kept) and ``detail`` per
    row, the rules applied, and notes on how they were judged."""

    rule_of: np.ndarray
    detail: np.ndarray
    rules: tuple[Rule, ...]
    applied: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def kept(self) -> np.ndarray:
        return self.rule_of < 0

    def counts(self) -> dict[str, int]:
        """Rows dropped per rule, for the rules results.json reports (the original five always,
        the others when switched on)."""
        return {r.name: int((self.rule_of == k).sum()) for k, r in enumerate(self.rules)
                if r.reported_when_off or r.name in self.applied}


def apply_rules(q: QualityData, settings: Any, rules: Sequence[Rule] = RULES) -> Exclusions:
    """Apply the rules in order; each drops only the rows no earlier rule dropped.

    ``settings``: an object (``QualityConfig``) or mapping with one setting per rule name;
    ``False`` or ``None`` (or absent) switches a rule off, ``True`` keeps its default."""
    n = len(q.data)
    rule_of = np.full(n, -1, dtype=np.int8)
    detail = np.full(n, "", dtype=object)
    notes: list[str] = []
    applied: list[str] = []
    for k, rule in enumerate(rules):
        setting = (settings.get(rule.name) if isinstance(settings, Mapping)
                   else getattr(settings, rule.name, None))
        if setting is False or setting is None:
            continue
        kept = rule_of < 0
        flag = rule.flag(q, setting, kept)
        if flag is None:
            continue
        applied.append(rule.name)
        notes.extend(flag.notes)
        sel = flag.mask & kept
        rule_of[sel] = k
        if isinstance(flag.detail, str):
            detail[sel] = flag.detail
        elif callable(flag.detail):
            if sel.any():
                detail[sel] = flag.detail(sel)
        else:
            detail[sel] = flag.detail[sel]
    return Exclusions(rule_of=rule_of, detail=detail, rules=tuple(rules), applied=tuple(applied),
                      notes=tuple(notes))


# ---------------------------------------------------------------------------------------------
# the careless-responding indices (vectorised; each matches the R package careless)


def longest_string(x: np.ndarray) -> np.ndarray:
    """``careless::longstring(x)``: per row, the longest run of identical consecutive values.

    As R's ``rle``, a missing value never continues a run (each is a run of one); a row of
    missing values gives 1 (0 for no columns)."""
    n, p = x.shape
    if p == 0:
        return np.zeros(n, dtype=np.int64)
    run = np.ones(n, dtype=np.int64)
    best = np.ones(n, dtype=np.int64)
    for j in range(1, p):
        same = x[:, j] == x[:, j - 1]  # NaN == anything is False
        run = np.where(same, run + 1, 1)
        np.maximum(best, run, out=best)
    return best


def response_variability(x: np.ndarray) -> np.ndarray:
    """``careless::irv(x)``: per row, the SD (divisor n - 1) of the answered items; NaN below
    two answers."""
    obs = ~np.isnan(x)
    k = obs.sum(1)
    x0 = np.where(obs, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x0.sum(1) / k
        dev = np.where(obs, x - mean[:, None], 0.0)
        sd = np.sqrt((dev * dev).sum(1) / (k - 1))
    return np.where(k >= 2, sd, np.nan)


def mahalanobis_d2(x: np.ndarray) -> np.ndarray:
    """``careless::mahad(x)`` (``psych::outlier``): D^2 of each row from the column means with
    the pairwise-complete covariance; a missing cell is left out of the quadratic form (its
    centred value counts as 0). Rows missing every item: NaN."""
    from pipeline.measure.moments import item_moments  # noqa: PLC0415

    all_missing = np.isnan(x).all(1)
    out = np.full(len(x), np.nan)
    rows = x[~all_missing]
    if len(rows) < 2:
        return out
    mom = item_moments(rows)
    try:
        inv = np.linalg.inv(mom.cov_pairwise)
    except np.linalg.LinAlgError:
        return out
    centred = np.nan_to_num(rows - mom.means, nan=0.0)
    out[~all_missing] = np.einsum("ij,ij->i", centred @ inv, centred)
    return out


def even_odd_consistency(x: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Even-odd consistency per row (Johnson 2005), the negative of ``careless::evenodd(x,
    factors = sizes)``: for each factor (consecutive columns of the given sizes) the means of its
    even- and odd-numbered items; their correlation over factors (pairwise complete), Spearman-
    Brown corrected (2r / (1 + r)) and bounded below by -1. NaN where fewer than two factors
    have both means or either set of means is constant."""
    n = len(x)
    k = len(sizes)
    even = np.full((n, k), np.nan)
    odd = np.full((n, k), np.nan)
    start = 0
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-missing block: NaN
        for f, size in enumerate(sizes):
            block = x[:, start:start + size]
            start += size
            even[:, f] = np.nanmean(block[:, 1::2], axis=1) if size > 1 else np.nan
            odd[:, f] = np.nanmean(block[:, 0::2], axis=1)
    both = ~np.isnan(even) & ~np.isnan(odd)
    m = both.sum(1)
    # R's cor() is NA when either set of means is constant (tested exactly, as R's two-pass mean
    # makes a constant vector's deviations exactly 0)
    constant = np.zeros(n, bool)
    for means in (even, odd):
        lo = np.where(both, means, np.inf).min(1)
        hi = np.where(both, means, -np.inf).max(1)
        constant |= lo == hi
    e = np.where(both, even, 0.0)
    o = np.where(both, odd, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        me = e.sum(1) / m
        mo = o.sum(1) / m
        de = np.where(both, even - me[:, None], 0.0)
        do = np.where(both, odd - mo[:, None], 0.0)
        r = (de * do).sum(1) / np.sqrt((de * de).sum(1) * (do * do).sum(1))
        r = np.where((m >= 2) & ~constant, r, np.nan)
        sb = 2 * r / (1 + r)
    return np.where(sb < -1, -1.0, sb)


def duration_from_dates(data: pd.DataFrame, start: str, end: str) -> np.ndarray | None:
    """Seconds between a start and an end column (SurveyMonkey, KoBo), or None if unparseable."""
    def parse(col):
        s = data[col]
        if s.dtype.kind == "M":
            return s
        try:
            return pd.to_datetime(s, errors="coerce", utc=True)
        except (ValueError, TypeError):
            return pd.to_datetime(s, errors="coerce", utc=True, format="mixed")
    a, b = parse(start), parse(end)
    if a.isna().mean() > 0.5 or b.isna().mean() > 0.5:
        return None
    return (b - a).dt.total_seconds().to_numpy(float)
