"""Every table of the report, built once from the results dictionary.

Each :class:`ReportTable` is rendered in report.html and written as one sheet of tables.xlsx, so
the two always agree with each other and with results.json: a table's frame holds the numbers of
results.json unrounded (the workbook keeps them at full precision with a display format; the
HTML shows them at the table's ``decimals``). Verdicts and flags are text columns; no number is
shown that results.json does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from pipeline.levels import ICC2_MIN, RWG_MIN
from pipeline.measure.reliability import ALPHA_THRESHOLD

#: Hu & Bentler (1999) cutoffs for ML fit indices (combination rules aside).
HU_BENTLER = {"cfi": (">=", 0.95), "tli": (">=", 0.95), "rmsea": ("<=", 0.06),
              "srmr": ("<=", 0.08)}
LOADING_GREY = 0.30  # EFA loadings below this are greyed (APA practice)
HTMT_MAX = 0.85  # Henseler, Ringle & Sarstedt (2015), conservative threshold
RESIDUAL_COR_MAX = 0.10  # Kline (2016): |residual correlation| > .10 marks local misfit


@dataclass(frozen=True)
class ReportTable:
    """One table of the report (one sheet of tables.xlsx).

    Attributes
    ----------
    key
        Sheet name (<= 31 characters, unique) and the base of the HTML anchor.
    title, note
        Caption and the note printed under it.
    frame
        The table: numbers as numbers (NaN/None for empty cells), text as text.
    section, group
        Where the table goes in the report (``group``: e.g. the model it belongs to).
    decimals
        Column -> decimals shown in the HTML (and the number format in the workbook).
    p_columns
        Columns holding p-values: shown with 3 decimals, "< 0.001" below that.
    grey_below
        Column -> |value| under which the cell is greyed (EFA loadings below .30).
    flag_above, flag_below
        Column -> value above (below) which the cell is marked (e.g. HTMT > .85).
    ci_pairs
        ``(label, low column, high column)``: shown in the HTML as one "[low, high]" column.
    flag_column, flag_values
        Column whose non-empty text marks the row (e.g. alpha < .70); with ``flag_values``,
        only those values mark it (e.g. "misses" in a verdict column).
    wrap
        Text columns that may wrap (long item wording).
    p_rows
        In statistic/value tables: first-column labels of the rows that hold p-values.
    bounded, bounded_rows
        Columns (or, in statistic/value tables, first-column labels of rows) holding a
        statistic bounded by 1 (r, alpha, standardised loadings, CFI, RMSEA, ICC ...): shown
        without a leading zero (APA 7).
    cuts, row_cuts
        Column (or row label) -> the cut-off its flag compares with, as a number or
        ``(number, True)`` for |value|: the value is shown with enough decimals to stay on
        its side of it (:func:`pipeline.report.apa.side_decimals`).
    int_rows, int_cols
        Row labels of statistic/value tables (columns) holding degrees of freedom or counts:
        integers (fractional df, e.g. Satterthwaite's, with two decimals).
    fixed
        Column -> the SE column whose exact 0 marks a fixed parameter: the cell shows an em
        dash (a fixed loading has no SE, z, p or CI).
    name_headers
        The headers after the first are names from the study (constructs of a correlation
        matrix), shown as they are.
    numbered
        A large correlation matrix: the HTML numbers the rows ('1. name') and shows the
        numbers as the headers of the columns (APA 7); the workbook keeps the names.
    number
        The table's number in the report (Table N, APA 7); 0 for the warnings list.
    """

    key: str
    title: str
    frame: pd.DataFrame
    section: str
    note: str = ""
    decimals: dict = field(default_factory=dict)
    p_columns: tuple = ()
    grey_below: dict = field(default_factory=dict)
    flag_above: dict = field(default_factory=dict)
    flag_below: dict = field(default_factory=dict)
    ci_pairs: tuple = ()
    flag_column: str | None = None
    wrap: tuple = ()
    group: str = ""
    p_rows: tuple = ()  # first-column labels of rows holding p-values (statistic/value tables)
    flag_values: tuple = ()  # when given, the flag_column values that mark a row
    bounded: tuple = ()
    bounded_rows: tuple = ()
    cuts: dict = field(default_factory=dict)
    row_cuts: dict = field(default_factory=dict)
    int_rows: tuple = ()
    int_cols: tuple = ()
    fixed: dict = field(default_factory=dict)
    name_headers: bool = False
    numbered: bool = False
    number: int = 0

    @property
    def anchor(self) -> str:
        return "t-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", self.key).strip("-") or "table")


def _count(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def _dec(cols, d=3) -> dict:
    return {c: d for c in cols}


def _lower_triangle(matrix: dict, names: list[str], label: str) -> pd.DataFrame:
    """The strict lower triangle of a correlation matrix (APA style): rows 2..k, columns
    1..k-1, upper cells blank."""
    rows = []
    for i, a in enumerate(names[1:], start=1):
        row = {label: a}
        for j, b in enumerate(names[:-1]):
            row[b] = (matrix.get(a) or {}).get(b) if j < i else None
        rows.append(row)
    return pd.DataFrame(rows, columns=[label] + names[:-1])


def _numbered_triangle(matrix: dict, names: list[str], label: str) -> pd.DataFrame:
    """A large correlation matrix as APA numbers it: every variable a row, columns 1..k-1
    (the report's header shows the numbers, the rows '1. name'), cells below the diagonal."""
    rows = []
    for i, a in enumerate(names):
        row = {label: a}
        for j, b in enumerate(names[:-1]):
            row[b] = (matrix.get(a) or {}).get(b) if j < i else None
        rows.append(row)
    return pd.DataFrame(rows, columns=[label] + names[:-1])


def _effects_note(es: dict) -> str:
    """The effect-size table's note: only the statistics the table shows."""
    parts = []
    if es.get("delta_r2") is not None:
        parts.append("\u0394R\u00b2 and f\u00b2 = \u0394R\u00b2 / (1 - R\u00b2) compare the "
                     "model with and without the interaction (Cohen 1988)")
    if es.get("lr_test"):
        parts.append("the likelihood-ratio test compares the model with and without the "
                     "interaction")
    if es.get("exp_coef"):
        parts.append("exponentiated coefficients with their 95% CIs (exp of the CI bounds)")
    if es.get("standardized_interaction") is not None:
        parts.append("the standardised interaction is its beta (the model refitted on z-scored "
                     "variables, the outcome too for gaussian models), with its CI scaled alike")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def _stat_frame(rows: list[dict]) -> pd.DataFrame:
    """A statistic/value table: object columns, so counts stay integers beside decimals."""
    return pd.DataFrame(rows, dtype=object)


def report_tables(results: dict) -> list[ReportTable]:
    """All tables of the report, in report order."""
    out: list[ReportTable] = []
    _sample_tables(results, out)
    _measurement_tables(results, out)
    _efa_tables(results, out)
    _cfa_tables(results, out)
    _invariance_tables(results, out)
    _aggregation_tables(results, out)
    _network_tables(results, out)
    _model_tables(results, out)
    warnings = results.get("warnings") or []
    out.append(ReportTable("warnings", "Warnings of the Run",
                           pd.DataFrame(warnings, columns=["number", "stage", "message"]),
                           "warnings", wrap=("message",)))
    _provenance_tables(results, out)
    return _numbered(_unique_keys(out))


def _numbered(tables: list[ReportTable]) -> list[ReportTable]:
    """Table 1, 2, ... in report order (APA 7); the warnings, a numbered list in the report,
    keep 0."""
    from dataclasses import replace  # noqa: PLC0415

    out, k = [], 0
    for t in tables:
        if t.section == "warnings":
            out.append(t)
            continue
        k += 1
        out.append(replace(t, number=k))
    return out


def _unique_keys(tables: list[ReportTable]) -> list[ReportTable]:
    """Sheet names must be unique (case-insensitively) and at most 31 characters."""
    from dataclasses import replace  # noqa: PLC0415

    used: set[str] = {"contents"}  # the workbook's first sheet
    fixed = []
    for t in tables:
        name = _sheet(t.key)
        k = 2
        while name.lower() in used:
            suffix = f"_{k}"
            name = _sheet(t.key)[: 31 - len(suffix)] + suffix
            k += 1
        used.add(name.lower())
        fixed.append(t if name == t.key else replace(t, key=name))
    return fixed


def _sheet(name: str) -> str:
    bad = '[]:*?/\\'
    clean = "".join("_" if ch in bad else ch for ch in name).strip("'")
    return clean[:31] or "sheet"


# ---- sample --------------------------------------------------------------------------------


def _sample_tables(results: dict, out: list) -> None:
    from pipeline.clean import RULE_LABELS  # noqa: PLC0415

    s = results["sample"]
    flow = [{"step": "Responses read", "n": s["rows_read"]}]
    for rule, n in (s.get("excluded_by_rule") or {}).items():
        flow.append({"step": f"Excluded: {RULE_LABELS.get(rule, rule)}", "n": n})
    flow.append({"step": "Respondents kept", "n": s["respondents"]})
    if s.get("units") is not None:
        flow.append({"step": "Units (firms)", "n": s["units"]})
    if s.get("groups") is not None:
        flow.append({"step": "Groups (clusters)", "n": s["groups"]})
    out.append(ReportTable("sample_flow", "Sample Flow", pd.DataFrame(flow), "sample",
                           "Each excluded response is counted under the first rule that "
                           "excluded it; every excluded row is listed in "
                           "data/processed/exclusions.csv."))
    by_file = s.get("by_file") or []
    if by_file:
        rows = []
        for f in by_file:
            rows.append({"file": f.get("file"), "layout": f.get("layout"), "rows": f.get("rows"),
                         "items matched": f.get("items_matched"),
                         "items not found": ", ".join(f.get("items_unmatched") or []),
                         "answers from text labels": f.get("from_labels"),
                         "kept": f.get("kept")})
        out.append(ReportTable("files", "Survey Files Read", pd.DataFrame(rows), "sample"))
    items = results.get("items") or {}
    if items:
        reasons = list(dict.fromkeys(r for v in items.values()
                                     for r in (v.get("missing_by_reason") or {})))
        rows = []
        for item, v in items.items():
            row = {"item": item, "construct": v.get("construct"), "missing": v.get("missing"),
                   "n": v.get("n")}
            row.update({f"in export: {r}": (v.get("missing_by_reason") or {}).get(r, 0)
                        for r in reasons})
            rows.append(row)
        out.append(ReportTable(
            "missing", "Missing Answers by Item and Reason", pd.DataFrame(rows), "sample",
            "'missing' and 'n' count the kept respondents; the 'in export' columns count the "
            "missing answers of the whole export (before exclusions) by the code or text that "
            "marked them (blank = empty cell)."))


# ---- measurement ---------------------------------------------------------------------------


def _measurement_tables(results: dict, out: list) -> None:
    items = results.get("items") or {}
    if items:
        desc = pd.DataFrame([{"item": i, "construct": v.get("construct"), "text": v.get("text"),
                              "reverse": "yes" if v.get("reverse") else "", "n": v.get("n"),
                              "mean": v.get("mean"), "sd": v.get("sd")}
                             for i, v in items.items()])
        out.append(ReportTable("items", "Item Descriptives", desc, "measurement",
                               "Kept respondents; codes after reverse keying (reverse items: "
                               "min + max - x).", decimals={"mean": 2, "sd": 2}, wrap=("text",)))
    rel = results.get("reliability") or {}
    if not rel:
        return
    rows = []
    for c, r in rel.items():
        ci = r.get("alpha_ci") or [None, None]
        flags = []
        if r.get("alpha") is not None and r["alpha"] < ALPHA_THRESHOLD:
            flags.append(f"alpha < {_cut(ALPHA_THRESHOLD)}")
        if r.get("omega_total") is not None and r["omega_total"] < 0.70:
            flags.append("omega < .70")
        rows.append({"construct": c, "items": r.get("n_items"), "n": r.get("n"),
                     "alpha": r.get("alpha"), "alpha CI low": ci[0], "alpha CI high": ci[1],
                     "omega total": r.get("omega_total"), "average r": r.get("average_r"),
                     "flag": "; ".join(flags)})
    out.append(ReportTable(
        "reliability", "Reliability by Construct", pd.DataFrame(rows), "measurement",
        "Cronbach's alpha on pairwise-complete data (each item pair's complete rows) with the "
        "Feldt 95% confidence interval from the F distribution with n - 1 and (n - 1)(k - 1) "
        "df (psych::alpha); McDonald's omega total from a one-factor model; average r = mean "
        f"inter-item correlation. Flagged: alpha below {_cut(ALPHA_THRESHOLD)} or omega below "
        ".70.",
        decimals=_dec(("alpha", "alpha CI low", "alpha CI high", "omega total", "average r")),
        ci_pairs=(("alpha 95% CI", "alpha CI low", "alpha CI high"),), flag_column="flag",
        bounded=("alpha", "alpha CI low", "alpha CI high", "omega total", "average r"),
        cuts={"alpha": ALPHA_THRESHOLD, "omega total": 0.70}))
    rows = []
    for c, r in rel.items():
        alpha = r.get("alpha")
        for item, v in (r.get("items") or {}).items():
            flags = []
            rd, aid = v.get("r_drop"), v.get("alpha_if_deleted")
            if rd is not None and rd < 0:
                flags.append("negative item-rest r (check reverse keying)")
            elif rd is not None and rd < 0.30:
                flags.append("item-rest r < .30")
            if aid is not None and alpha is not None and aid > alpha:
                flags.append("alpha rises without the item")
            rows.append({"construct": c, "item": item, "n": v.get("n"), "mean": v.get("mean"),
                         "sd": v.get("sd"), "missing share": v.get("missing"),
                         "item-rest r": rd, "alpha if deleted": aid, "flag": "; ".join(flags)})
    out.append(ReportTable(
        "reliability_items", "Item Statistics for Reliability", pd.DataFrame(rows),
        "measurement",
        "Item-rest r = correlation of the item with the sum of the construct's other items "
        "(r.drop of psych::alpha); alpha if deleted = raw alpha without the item. Flagged: "
        "item-rest r below .30, or alpha higher without the item.",
        decimals=_dec(("mean", "sd", "missing share", "item-rest r", "alpha if deleted")),
        flag_column="flag", bounded=("missing share", "item-rest r", "alpha if deleted"),
        cuts={"item-rest r": 0.30}))


# ---- EFA -----------------------------------------------------------------------------------


def _kmo_label(v: float) -> str:
    """Kaiser's (1974) verbal labels for the measure of sampling adequacy."""
    for cut, word in ((0.9, "marvelous"), (0.8, "meritorious"), (0.7, "middling"),
                      (0.6, "mediocre"), (0.5, "miserable")):
        if v >= cut:
            return word
    return "unacceptable"


def _efa_tables(results: dict, out: list) -> None:
    efa = results.get("efa") or {}
    if not efa:
        return
    b = efa.get("bartlett") or {}
    sug = efa.get("suggested") or {}
    rows = []
    kmo = efa.get("kmo")
    rows.append({"statistic": "KMO measure of sampling adequacy (overall)", "value": kmo,
                 "note": f"{_kmo_label(kmo)} (Kaiser 1974)" if kmo is not None else ""})
    kmo_items = {k: v for k, v in (efa.get("kmo_items") or {}).items() if v is not None}
    if kmo_items:
        worst = min((v, k) for k, v in kmo_items.items() if v is not None)
        rows.append({"statistic": "KMO, lowest item", "value": worst[0],
                     "note": f"{worst[1]}" + (" (below .60)" if worst[0] < 0.6 else "")})
    rows += [{"statistic": "Bartlett's test of sphericity: chi-square", "value": b.get("chi2"),
              "note": ""},
             {"statistic": "Bartlett's test: df", "value": b.get("df"), "note": ""},
             {"statistic": "Bartlett's test: p", "value": b.get("p"), "note": ""}]
    names = {"parallel": "parallel analysis (components, Horn 1965)",
             "parallel_fa": "parallel analysis (common factors)",
             "kaiser": "Kaiser criterion (eigenvalues > 1)",
             "map": "minimum average partial (Velicer 1976)"}
    for k, v in sug.items():
        rows.append({"statistic": f"Factors suggested: {names.get(k, k)}", "value": v,
                     "note": ""})
    rows.append({"statistic": "Factors extracted", "value": efa.get("n_factors"),
                 "note": efa.get("n_factors_reason", "")})
    out.append(ReportTable("efa_adequacy", "Sampling Adequacy and the Number of Factors",
                           _stat_frame(rows), "efa",
                           f"Bartlett's test: chi-square test with p(p - 1)/2 df that the "
                           f"pairwise-complete item correlation matrix (n = {_count(efa.get('n'))}) "
                           "is an identity matrix (psych::cortest.bartlett); KMO from the same "
                           "matrix (psych::KMO).",
                           decimals={"value": 3}, wrap=("note",),
                           p_rows=("Bartlett's test: p",),
                           bounded_rows=("KMO measure of sampling adequacy (overall)",
                                         "KMO, lowest item"),
                           row_cuts={"KMO, lowest item": 0.60},
                           int_rows=("Bartlett's test: df", "Factors extracted") + tuple(
                               r["statistic"] for r in rows
                               if str(r["statistic"]).startswith("Factors suggested"))))
    load = efa.get("loadings") or {}
    if load:
        factors = list(next(iter(load.values())).keys())
        comm = efa.get("communalities") or {}
        rows = []
        for item, v in load.items():
            row = {"item": item}
            row.update({f: v.get(f) for f in factors})
            row["h2"] = comm.get(item)
            rows.append(row)
        out.append(ReportTable(
            "efa_loadings", f"EFA Pattern Loadings ({efa.get('method')} Extraction, "
            f"{efa.get('rotation')} Rotation, n = {_count(efa.get('n'))})", pd.DataFrame(rows),
            "efa",
            "Loadings below .30 in absolute value are greyed; h2 = communality. Factors in order "
            "of variance explained; pairwise-complete correlations (psych::fa).",
            decimals=_dec(factors + ["h2"], 2), grey_below={f: LOADING_GREY for f in factors},
            bounded=tuple(factors) + ("h2",), cuts={f: (LOADING_GREY, True) for f in factors},
            name_headers=False))
        var = efa.get("variance") or {}
        if var:
            vrows = [{"factor": f, "SS loadings": v.get("ss_loadings"),
                      "proportion of variance": v.get("proportion"),
                      "cumulative proportion": v.get("cumulative")} for f, v in var.items()]
            out.append(ReportTable("efa_variance", "Variance Explained by the Factors",
                                   pd.DataFrame(vrows), "efa",
                                   decimals=_dec(("SS loadings", "proportion of variance",
                                                  "cumulative proportion")),
                                   bounded=("proportion of variance", "cumulative proportion")))
        phi = efa.get("factor_correlations")
        if isinstance(phi, dict) and len(phi) > 1 and efa.get("rotation") not in ("varimax",
                                                                                 "none"):
            out.append(ReportTable("efa_phi", "Factor Correlations (Oblique Rotation)",
                                   _lower_triangle(phi, list(phi), "factor"), "efa",
                                   decimals=_dec(list(phi), 2), bounded=tuple(phi)))
    fit = efa.get("fit") or {}
    if fit:
        ci = fit.get("rmsea_ci") or [None, None]
        frows = [{"statistic": "chi-square", "value": fit.get("chisq")},
                 {"statistic": "df", "value": fit.get("df")},
                 {"statistic": "p", "value": fit.get("pvalue")},
                 {"statistic": "TLI", "value": fit.get("tli")},
                 {"statistic": "RMSEA", "value": fit.get("rmsea")},
                 {"statistic": "RMSEA 90% CI low", "value": ci[0]},
                 {"statistic": "RMSEA 90% CI high", "value": ci[1]},
                 {"statistic": "BIC", "value": fit.get("bic")}]
        out.append(ReportTable("efa_fit", "Fit of the EFA Model", _stat_frame(frows), "efa",
                               "Likelihood-ratio fit of the extracted factor model "
                               "(as psych::fa reports it: Bartlett-corrected chi-square test "
                               "on the pairwise-complete correlations, n as the run's).",
                               decimals={"value": 3}, p_rows=("p",), int_rows=("df",),
                               bounded_rows=("TLI", "RMSEA", "RMSEA 90% CI low",
                                             "RMSEA 90% CI high")))


# ---- CFA -----------------------------------------------------------------------------------


ESTIMATOR_NAMES = {"ML": "maximum likelihood (ML)",
                   "MLR": "maximum likelihood with robust (Huber-White) SEs and the "
                          "Yuan-Bentler scaled test (MLR)",
                   "WLSMV": "diagonally weighted least squares on polychoric correlations with "
                            "mean- and variance-adjusted test (WLSMV)"}
SE_NAMES = {"standard": "standard (inverse expected information)",
            "robust.huber.white": "robust (Huber-White sandwich)",
            "robust.sem": "robust (sandwich, expected information)"}


def cfa_method(cfa: dict) -> str:
    """One sentence: estimator, missing-data treatment, SE type and test of the CFA (from the
    stage's keys where it wrote them, otherwise what pipeline.measure.cfa does: ML on
    listwise-complete rows, SEs from the expected information, likelihood-ratio test)."""
    est = cfa.get("estimator") or "ML"
    missing = cfa.get("missing") or "listwise"
    se = cfa.get("se") or "standard"
    se_text = (f"cluster-robust over {se.split(':', 1)[1]}" if se.startswith("cluster:")
               else "standard (inverse observed information)"
               if se == "standard" and missing == "fiml" else SE_NAMES.get(se, se))
    n, dropped = cfa.get("n"), cfa.get("n_dropped_listwise")
    miss_text = ("full-information ML (FIML) on every row with an answer"
                 if missing == "fiml" else
                 f"pairwise deletion (thresholds from each item's answers, polychorics from each "
                 f"pair's; n = {_count(n)} rows)" if missing == "pairwise" else
                 f"listwise deletion (n = {_count(n)} complete rows"
                 + (f", {_count(dropped)} dropped" if dropped else "") + ")")
    test = ("scaled chi-square test" if est in ("MLR", "WLSMV") else "likelihood-ratio "
            "chi-square test")
    text = (f"Estimator: {ESTIMATOR_NAMES.get(est, est)}; missing data: {miss_text}; "
            f"SEs: {se_text}; model test: {test}; parameter tests: z = estimate / SE against "
            "the standard normal distribution, Wald 95% CIs.")
    if cfa.get("estimator_reason"):
        text += f" {cfa['estimator_reason']}"
    return text


def _cfa_tables(results: dict, out: list) -> None:
    cfa = results.get("cfa") or {}
    if not cfa:
        return
    fit = cfa.get("fit") or {}
    scaled = any(fit.get(k) is not None for k in ("chisq_scaled", "cfi_robust",
                                                  "rmsea_robust"))
    rows = []
    labels = {"chisq": "chi-square", "df": "df", "pvalue": "p", "cfi": "CFI", "tli": "TLI",
              "rmsea": "RMSEA", "srmr": "SRMR", "aic": "AIC", "bic": "BIC"}
    robust_key = {"chisq": "chisq_scaled", "df": "df_scaled", "pvalue": "pvalue_scaled",
                  "cfi": "cfi_robust", "tli": "tli_robust", "rmsea": "rmsea_robust",
                  "srmr": "srmr"}
    for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        if k not in fit:
            continue
        cut = HU_BENTLER.get(k)
        v = fit.get(k)
        rv = fit.get(robust_key[k]) if scaled and k in robust_key else None
        judged = rv if rv is not None else v
        verdict = ""
        if cut and judged is not None:
            verdict = "meets" if (judged >= cut[1] if cut[0] == ">=" else judged <= cut[1]) \
                else "misses"
        row = {"index": labels[k], "value": v}
        if scaled:
            row["robust"] = rv
        row.update({"cutoff (Hu & Bentler 1999)": f"{cut[0]} {_cut(cut[1])}" if cut else "",
                    "verdict": verdict})
        rows.append(row)
        if k == "rmsea" and fit.get("rmsea_ci"):
            ci = fit["rmsea_ci"]
            rci = fit.get("rmsea_robust_ci") or [None, None]
            for i, label in ((0, "RMSEA 90% CI low"), (1, "RMSEA 90% CI high")):
                row = {"index": label, "value": ci[i]}
                if scaled:
                    row["robust"] = rci[i]
                row.update({"cutoff (Hu & Bentler 1999)": "", "verdict": ""})
                rows.append(row)
    if scaled:
        for k, label in (("scaling_factor", "scaling correction factor"),
                         ("shift_parameter", "shift parameter")):
            if fit.get(k) is not None:
                rows.append({"index": label, "value": None, "robust": fit[k],
                             "cutoff (Hu & Bentler 1999)": "", "verdict": ""})
    bounded = ("CFI", "TLI", "RMSEA", "SRMR", "RMSEA 90% CI low", "RMSEA 90% CI high")
    out.append(ReportTable(
        "cfa_fit", f"CFA Model Fit ({cfa.get('estimator', 'ML')}, n = {_count(cfa.get('n'))})",
        _stat_frame(rows), "cfa",
        cfa_method(cfa) + " Fit indices are lavaan's fitMeasures()"
        + ("; robust = the scaled test statistic and robust indices, which the verdict judges"
           if scaled else "")
        + ". Cutoffs: Hu & Bentler (1999); 'misses' marks an index outside its cutoff.",
        decimals={"value": 3, "robust": 3}, p_rows=("p",), flag_column="verdict",
        flag_values=("misses",), bounded_rows=bounded, int_rows=("df",),
        row_cuts={labels[k]: (c, False, "above" if op == "<=" else "below")
                  for k, (op, c) in HU_BENTLER.items()}))
    rows = []
    blocks = [(c, its, "first order") for c, its in (cfa.get("loadings") or {}).items()]
    blocks += [(h, parts, "second order") for h, parts in (cfa.get("higher_order") or {}).items()]
    for c, its, order in blocks:
        for item, v in its.items():
            std = v.get("std")
            rows.append({"factor": c, "indicator": item, "B": v.get("estimate"),
                         "SE": v.get("se"), "z": v.get("z"), "p": v.get("p"),
                         "CI low": v.get("ci_low"), "CI high": v.get("ci_high"), "beta": std,
                         "beta SE": v.get("std_se"),
                         "flag": "std loading < .50" if std is not None and abs(std) < 0.5 else ""})
    if rows:
        frame = pd.DataFrame(rows, columns=["factor", "indicator", "B", "SE", "z", "p",
                                            "CI low", "CI high", "beta", "beta SE", "flag"])
        out.append(ReportTable(
            "cfa_loadings", "CFA Factor Loadings", frame, "cfa",
            "B = unstandardised loading; beta = completely standardised loading (lavaan "
            "std.all) with its delta-method SE; z and p test B = 0. The first indicator of each "
            "factor is fixed at 1 to set the factor's scale, so it has no SE, test or interval "
            "(\u2014). " + cfa_method(cfa) + " Flagged: standardised loading below .50.",
            decimals=_dec(("B", "SE", "z", "CI low", "CI high", "beta", "beta SE")),
            p_columns=("p",), ci_pairs=(("95% CI", "CI low", "CI high"),),
            flag_column="flag", bounded=("beta", "beta SE"), cuts={"beta": (0.5, True)},
            fixed={"SE": "SE", "z": "SE", "p": "SE", "CI low": "SE"}))
    resid = cfa.get("residual_variances") or {}
    r2 = cfa.get("r2") or {}
    if resid:
        rows = [{"indicator": item, "estimate": v.get("estimate"), "SE": v.get("se"),
                 "std": v.get("std"), "R\u00b2": r2.get(item)} for item, v in resid.items()]
        out.append(ReportTable(
            "cfa_residuals", "Residual Variances and Indicator R\u00b2", pd.DataFrame(rows),
            "cfa",
            "estimate = residual (unique) variance of the indicator with its SE; std = its "
            "standardised value; R\u00b2 = 1 - std, the share of the indicator's variance the "
            "factors explain (lavInspect(fit, \"r2\")). A negative residual variance (Heywood "
            "case) is listed under Warnings.",
            decimals=_dec(("estimate", "SE", "std", "R\u00b2")), bounded=("std", "R\u00b2")))
    cr, ave = cfa.get("composite_reliability") or {}, cfa.get("ave") or {}
    phi = cfa.get("factor_correlations") or {}
    if cr or ave:
        rows = []
        for c in dict.fromkeys(list(cr) + list(ave)):
            flags = []
            if cr.get(c) is not None and cr[c] < 0.70:
                flags.append("CR < .70")
            if ave.get(c) is not None and ave[c] < 0.50:
                flags.append("AVE < .50")
            fl = ""
            if ave.get(c) is not None and c in phi:
                others = [(o, r) for o, r in phi[c].items()
                          if o != c and o in ave and r is not None]
                if others:
                    worst = max(others, key=lambda t: abs(t[1]))
                    fl = ("AVE > every squared correlation" if ave[c] > worst[1] ** 2 else
                          f"AVE < squared correlation with {worst[0]}")
            rows.append({"construct": c, "CR": cr.get(c), "AVE": ave.get(c),
                         "Fornell-Larcker": fl, "flag": "; ".join(flags)})
        out.append(ReportTable(
            "cfa_validity", "Composite Reliability and Average Variance Extracted",
            pd.DataFrame(rows), "cfa",
            "CR (composite reliability, semTools::compRelSEM) >= .70 and AVE (average variance "
            "extracted, semTools::AVE) >= .50 are the usual benchmarks; Fornell-Larcker "
            "criterion: a construct's AVE should exceed its squared correlation with every "
            "other construct (Fornell & Larcker 1981). Computed from the CFA estimates above.",
            decimals=_dec(("CR", "AVE")), flag_column="flag", bounded=("CR", "AVE"),
            cuts={"CR": 0.70, "AVE": 0.50}))
    htmt = cfa.get("htmt")
    if isinstance(htmt, dict) and len(htmt) > 1:
        names = list(htmt)
        out.append(ReportTable(
            "htmt", "Heterotrait-Monotrait Ratios (HTMT)",
            _lower_triangle(htmt, names, "construct"), "cfa",
            f"HTMT below {_cut(HTMT_MAX)} supports discriminant validity (Henseler et al. "
            "2015); ratios above it are marked. Item correlations of the listwise-complete "
            "rows (semTools::htmt).",
            decimals=_dec(names), flag_above={n: HTMT_MAX for n in names}, bounded=tuple(names),
            cuts={n: (HTMT_MAX, False, "above") for n in names}, name_headers=True))
    if len(phi) > 1:
        names = list(phi)
        out.append(ReportTable("cfa_phi", "Latent Factor Correlations (CFA)",
                               _lower_triangle(phi, names, "factor"), "cfa",
                               "Model-implied correlations of the latent variables "
                               "(lavInspect(fit, \"cor.lv\")).",
                               decimals=_dec(names), bounded=tuple(names), name_headers=True))
    res = cfa.get("residual_correlations")
    if isinstance(res, dict) and len(res) > 1:
        names = list(res)
        out.append(ReportTable(
            "cfa_residual_cor", "Residual Correlations of the Indicators",
            _numbered_triangle(res, names, "indicator"), "cfa",
            "Observed minus model-implied correlations (lavaan residuals(fit, type = \"cor\")); "
            "columns are numbered as the rows; "
            f"values above {_cut(RESIDUAL_COR_MAX)} in absolute value are marked as local misfit "
            "(Kline 2016).",
            decimals=_dec(names, 2), bounded=tuple(names), numbered=True,
            flag_above={n: RESIDUAL_COR_MAX for n in names},
            flag_below={n: -RESIDUAL_COR_MAX for n in names}))
    largest = cfa.get("largest_residuals") or []
    if largest:
        cut = _cut(RESIDUAL_COR_MAX)
        rows = [{"pair": f"{r.get('lhs')} ~~ {r.get('rhs')}", "residual": r.get("residual"),
                 "local misfit": (f"|r| > {cut}" if r.get("residual") is not None
                                  and abs(r["residual"]) > RESIDUAL_COR_MAX else "")}
                for r in largest]
        out.append(ReportTable(
            "cfa_largest_residuals", "Largest Residual Correlations", pd.DataFrame(rows), "cfa",
            "The indicator pairs the model reproduces worst (observed minus implied "
            "correlation, lavaan residuals(fit, type = \"cor\")), largest absolute value first; "
            f"values above {_cut(RESIDUAL_COR_MAX)} in absolute value are marked as local misfit "
            "(Kline 2016).", decimals={"residual": 3}, bounded=("residual",),
            flag_above={"residual": RESIDUAL_COR_MAX},
            flag_below={"residual": -RESIDUAL_COR_MAX},
            cuts={"residual": (RESIDUAL_COR_MAX, True)}, flag_column="local misfit"))
    mis = cfa.get("modification_indices")
    hints = mis if mis else (cfa.get("modification_hints") or [])
    if hints:
        rows = [{"parameter": f"{h.get('lhs')} {h.get('op')} {h.get('rhs')}",
                 "MI": h.get("mi"), "EPC": h.get("epc"), "std EPC": h.get("sepc_all")}
                for h in hints[:10]]
        out.append(ReportTable(
            "cfa_mi", "Largest Modification Indices", pd.DataFrame(rows), "cfa",
            "Score tests of fixed parameters (lavaan::modindices): MI = expected drop in "
            "chi-square when the parameter is freed (chi-square with 1 df; 3.84 is p = .05), "
            "EPC its expected value, std EPC completely standardised. Freeing parameters on "
            "these grounds alone capitalises on chance.",
            decimals=_dec(("MI", "EPC", "std EPC"))))
    thresholds = cfa.get("thresholds") or {}
    if thresholds:
        k = max(len(v or []) for v in thresholds.values())
        rows = []
        for item, ts in thresholds.items():
            row = {"indicator": item}
            for j in range(k):
                t = (ts or [])[j] if j < len(ts or []) else None
                row[f"t{j + 1}"] = t.get("estimate") if isinstance(t, dict) else t
            rows.append(row)
        out.append(ReportTable(
            "cfa_thresholds", "Thresholds of the Ordinal Indicators", pd.DataFrame(rows), "cfa",
            "Thresholds on the latent response scale (lavaan's |t1, |t2 ...): the z values "
            "between adjacent answer categories.",
            decimals=_dec([f"t{j + 1}" for j in range(k)])))


# ---- invariance ----------------------------------------------------------------------------


def invariance_model_sentence(inv: dict) -> str:
    """Which model the invariance levels were fitted on, in one sentence (table note, methods)."""
    higher = inv.get("higher_order") or {}
    if inv.get("model") == "second-order" and higher:
        names = "; ".join(f"{h} over {', '.join(cs)}" for h, cs in higher.items())
        return ("The levels were tested on the second-order model the CFA reports "
                f"({names}): metric equality constrains the first- and the second-order "
                "loadings, and the scalar model frees the constructs' intercepts in the "
                "groups after the first while the second-order means stay at 0 (lavaan's "
                "group.equal on the second-order model, identified)."
                + (" Second-order scalar also holds the constructs' intercepts equal and frees "
                   "the second-order means, against the (partial) scalar model: comparing the "
                   "second-order factor's means needs it (Chen, Sousa & West 2005)."
                   if inv.get("second_order_scalar") else ""))
    if inv.get("model") == "first-order":
        return ("The levels were tested on the first-order model (correlated constructs"
                + ("; the CFA's second-order factor could not be carried, see the warnings)."
                   if any("first-order model" in str(w) for w in inv.get("warnings") or [])
                   else ")."))
    return ""


def _second_order_means_note(inv: dict, lm: dict) -> str:
    """How the latent means of a second-order model were obtained (latent-means table note)."""
    higher = list(inv.get("higher_order") or {})
    if inv.get("model") != "second-order" or not higher:
        return ""
    shown = [h for h in higher if any(h in cons for cons in lm.values())]
    names = ", ".join(higher)
    if shown:
        return (" Second-order model: the constructs' differences are their intercepts in the "
                f"(partial) scalar model; {names}'s come from the second-order scalar model, "
                "which holds.")
    return (" Second-order model: the constructs' differences are their intercepts in the "
            f"(partial) scalar model; {names}'s means are not compared (fixed at 0 there; "
            "second-order scalar invariance does not hold).")


def _freed_sentence(partial: dict) -> str:
    """The parameters the partial-invariance search freed, level by level."""
    parts = []
    for name in ("metric", "scalar"):
        lv = partial.get(name) or {}
        freed = lv.get("freed") or []
        if freed:
            verdict = "holds" if lv.get("holds") else "still fails"
            parts.append(f"partial {name} ({verdict}) frees {', '.join(freed)}")
    if not parts:
        return ""
    return ("Freed across groups, one at a time by the largest univariate score test "
            "(lavaan::lavTestScore) until the level held: " + "; ".join(parts) + ".")


def _ordinal_invariance_table(inv: dict, out: list) -> None:
    """The WLSMV (ordered items, Wu & Estabrook 2016) levels: configural, thresholds, metric,
    scalar, with the scaled-shifted statistics and the Satorra (2000) difference tests."""
    rows = []
    for name in ("configural", "thresholds", "metric", "scalar"):
        lv = inv.get(name)
        if not lv:
            continue
        holds = lv.get("holds")
        rows.append({"model": name, "\u03c7\u00b2": lv.get("chisq"), "df": lv.get("df"),
                     "scaled \u03c7\u00b2": lv.get("chisq_scaled"),
                     "p (scaled)": lv.get("pvalue_scaled"), "CFI": lv.get("cfi_scaled"),
                     "TLI": lv.get("tli_scaled"), "RMSEA": lv.get("rmsea_scaled"),
                     "SRMR": lv.get("srmr"), "\u0394CFI": lv.get("delta_cfi"),
                     "\u0394RMSEA": lv.get("delta_rmsea"),
                     "\u0394\u03c7\u00b2": lv.get("chisq_diff"), "\u0394df": lv.get("df_diff"),
                     "p (\u0394\u03c7\u00b2)": lv.get("p_diff"),
                     "holds": "yes" if holds else ("no" if holds is False else "")})
    crit = inv.get("criteria") or {}
    note = (f"Multi-group CFA of the ordered items across {inv.get('group')} by WLSMV (DWLS on "
            "each group's polychoric correlations and thresholds, listwise-complete rows, "
            "delta parameterisation), identified as Wu & Estabrook (2016) propose "
            "(semTools::measEq.syntax, ID.cat = \"Wu.Estabrook.2016\"): configural; "
            "thresholds equal (item intercepts and scales free); + loadings equal (metric); + "
            "intercepts equal (scalar). \u03c7\u00b2 is the DWLS statistic, scaled "
            "\u03c7\u00b2 the mean-and-variance adjusted (scaled-shifted) one; CFI, TLI and "
            "RMSEA are the scaled versions. \u0394\u03c7\u00b2 is the scaled-shifted "
            "difference test of Satorra (2000) against the previous level "
            "(lavaan::lavTestLRT). A level holds when")
    if crit:
        note += (f" the scaled CFI drops by at most {crit.get('delta_cfi')} and the scaled "
                 f"RMSEA rises by at most {crit.get('delta_rmsea')} against the previous level "
                 f"(Chen 2007), that level holding; configural fit needs CFI >= "
                 f"{crit.get('cfi_min')} and RMSEA <= {crit.get('rmsea_max')}")
    note += (". No partial invariance was searched for ordered items: a level that fails is "
             "reported as failing.")
    if inv.get("collapsed"):
        note += (" Answer categories a group never used were merged with their neighbour in "
                 "every group: " + "; ".join(
                     f"{it} ({', '.join(str(m.get('value')) for m in ms)})"
                     for it, ms in inv["collapsed"].items()) + ".")
    out.append(ReportTable(
        "invariance_fit", "Measurement Invariance of Ordered Items (WLSMV): Configural, "
        "Threshold, Metric and Scalar Models", pd.DataFrame(rows), "invariance", note,
        decimals=_dec(("\u03c7\u00b2", "scaled \u03c7\u00b2", "CFI", "TLI", "RMSEA", "SRMR",
                       "\u0394CFI", "\u0394RMSEA", "\u0394\u03c7\u00b2")),
        bounded=("CFI", "RMSEA", "SRMR", "\u0394CFI", "\u0394RMSEA"),
        p_columns=("p (scaled)", "p (\u0394\u03c7\u00b2)"), flag_column="holds",
        flag_values=("no",)))


def _invariance_tables(results: dict, out: list) -> None:
    inv = results.get("invariance") or {}
    if not inv:
        return
    if inv.get("estimator") == "WLSMV":
        _ordinal_invariance_table(inv, out)
        _invariance_extra_tables(inv, out, inv.get("partial") or {})
        return
    rows = []
    levels = [("configural", inv.get("configural")), ("metric", inv.get("metric")),
              ("scalar", inv.get("scalar"))]
    partial = inv.get("partial") or {}
    for name in ("metric", "scalar"):
        if partial.get(name):
            levels.append((f"partial {name}", partial[name]))
    if inv.get("second_order_scalar"):
        levels.append(("second-order scalar", inv["second_order_scalar"]))
    for name, lv in levels:
        if not lv:
            continue
        ci = lv.get("rmsea_ci") or [None, None]
        holds = lv.get("holds")
        rows.append({"model": name, "\u03c7\u00b2": lv.get("chisq"), "df": lv.get("df"),
                     "p": lv.get("pvalue"), "CFI": lv.get("cfi"), "RMSEA": lv.get("rmsea"),
                     "RMSEA CI low": ci[0], "RMSEA CI high": ci[1], "SRMR": lv.get("srmr"),
                     "\u0394CFI": lv.get("delta_cfi"), "\u0394RMSEA": lv.get("delta_rmsea"),
                     "\u0394\u03c7\u00b2": lv.get("chisq_diff"), "\u0394df": lv.get("df_diff"),
                     "p (\u0394\u03c7\u00b2)": lv.get("p_diff"),
                     "holds": "yes" if holds else ("no" if holds is False else ""),
                     "freed": ", ".join(lv.get("freed") or [])})
    crit = inv.get("criteria") or {}
    note = (f"Multi-group CFA across {inv.get('group')} (ML on each group's listwise-complete "
            "rows, SEs from the expected information; equality constraints as lavaan's "
            "group.equal). " + invariance_model_sentence(inv) + " The chi-square difference "
            "test has \u0394df df. A level holds when")
    if crit:
        note += (f" CFI drops by at most {crit.get('delta_cfi')} and RMSEA rises by at most "
                 f"{crit.get('delta_rmsea')} against the previous level (Chen 2007)")
        if crit.get("cfi_min") is not None:
            note += (f"; configural fit needs CFI >= {crit.get('cfi_min')} and RMSEA <= "
                     f"{crit.get('rmsea_max')}")
    note += ". The chi-square difference test is shown for completeness; it rejects trivial "
    note += "differences in large samples."
    freed_txt = _freed_sentence(partial)
    if freed_txt:
        note += " " + freed_txt
    frame = pd.DataFrame(rows)
    if "freed" in frame and not frame["freed"].astype(bool).any():
        frame = frame.drop(columns="freed")
    title = "Measurement Invariance: Configural, Metric and Scalar Models"
    model_title = {"first-order": "First-Order", "second-order": "Second-Order"}
    if inv.get("model") in model_title:
        title += f" ({model_title[inv['model']]} Model)"
    out.append(ReportTable(
        "invariance_fit", title, frame,
        "invariance", note,
        decimals=_dec(("\u03c7\u00b2", "CFI", "RMSEA", "RMSEA CI low", "RMSEA CI high", "SRMR",
                       "\u0394CFI", "\u0394RMSEA", "\u0394\u03c7\u00b2")),
        bounded=("CFI", "RMSEA", "RMSEA CI low", "RMSEA CI high", "SRMR", "\u0394CFI",
                 "\u0394RMSEA"),
        p_columns=("p", "p (\u0394\u03c7\u00b2)"), flag_column="holds", flag_values=("no",),
        ci_pairs=(("RMSEA 90% CI", "RMSEA CI low", "RMSEA CI high"),)))
    _invariance_extra_tables(inv, out, partial)


def _invariance_extra_tables(inv: dict, out: list, partial: dict) -> None:
    n = inv.get("n") or {}
    if n:
        out.append(ReportTable("invariance_groups", f"Groups Compared ({inv.get('group')})",
                               pd.DataFrame([{"group": g, "complete rows": v}
                                             for g, v in n.items()]), "invariance",
                               "Listwise-complete respondents per group; the first group is the "
                               "reference for latent means."))
    sug = partial.get("suggestions") or []
    if sug:
        out.append(ReportTable(
            "invariance_release", "Constraints That Fit Worst (Score Tests)",
            pd.DataFrame([{"parameter": s.get("parameter"), "group": s.get("group"),
                           "chi-square": s.get("chisq"), "df": s.get("df"), "p": s.get("p")}
                          for s in sug]), "invariance",
            "Univariate score tests (lavaan::lavTestScore) of the equality constraints of the "
            "first level that failed; candidates for partial invariance.",
            decimals=_dec(("chi-square",)), p_columns=("p",)))
    lm = inv.get("latent_means") or {}
    if lm:
        groups = inv.get("groups") or []
        ref = groups[0] if groups else "the reference group"
        rows = []
        for g, cons in lm.items():
            for c, v in cons.items():
                rows.append({"group": g, "construct": c, "difference": v.get("estimate"),
                             "SE": v.get("se"), "CI low": v.get("ci_low"),
                             "CI high": v.get("ci_high"), "z": v.get("z"), "p": v.get("p")})
        out.append(ReportTable(
            "latent_means", f"Regional (Group) Latent Means Relative to {ref}",
            pd.DataFrame(rows), "invariance",
            f"Latent mean differences from the (partial) scalar model, in the latent variable's "
            f"units; {ref}'s latent means are fixed at 0. z = difference / SE against the "
            "standard normal distribution; Wald 95% CIs."
            + _second_order_means_note(inv, lm),
            decimals=_dec(("difference", "SE", "CI low", "CI high", "z")), p_columns=("p",),
            ci_pairs=(("95% CI", "CI low", "CI high"),)))


# ---- aggregation ---------------------------------------------------------------------------


def _cut(x: float) -> str:
    """A cut-off as reviewers write it: 0.7 -> '.70'."""
    return f"{x:.2f}".removeprefix("0")


def _agg_rows(block: dict, size_key: str) -> list[dict]:
    rows = []
    for c, v in block.items():
        if not isinstance(v, dict) or "icc1" not in v:
            continue
        flags = []
        if v.get("icc2") is not None and v["icc2"] < ICC2_MIN:
            flags.append(f"ICC(2) < {_cut(ICC2_MIN)}")
        if v.get("rwg_j_mean") is not None and v["rwg_j_mean"] < RWG_MIN:
            flags.append(f"mean rwg(j) < {_cut(RWG_MIN)}")
        rows.append({"construct": c, "ICC(1)": v.get("icc1"), "ICC(2)": v.get("icc2"),
                     "F": v.get("f"), "df1": v.get("df1"), "df2": v.get("df2"), "p": v.get("p"),
                     "rwg(j) mean": v.get("rwg_j_mean"), "rwg(j) median": v.get("rwg_j_median"),
                     "share rwg(j) >= .70": v.get("rwg_j_share_70"),
                     size_key: v.get("n_units", v.get("n_groups")),
                     "mean size": v.get("mean_group_size"), "flag": "; ".join(flags)})
    return rows


def _aggregation_tables(results: dict, out: list) -> None:
    agg = results.get("aggregation") or {}
    if not agg:
        return
    dec = _dec(("ICC(1)", "ICC(2)", "F", "rwg(j) mean", "rwg(j) median", "share rwg(j) >= .70"))
    dec["mean size"] = 1
    agg_bounded = ("ICC(1)", "ICC(2)", "rwg(j) mean", "rwg(j) median", "share rwg(j) >= .70")
    agg_cuts = {"ICC(2)": ICC2_MIN, "rwg(j) mean": RWG_MIN}
    rows = _agg_rows(agg, "units")
    per = agg.get("respondents_per_unit") or {}
    if rows:
        out.append(ReportTable(
            "aggregation", "Aggregation of Respondents to Units", pd.DataFrame(rows), "levels",
            "ICC(1) and ICC(2) from a one-way ANOVA of respondents' scores by unit "
            "(multilevel::ICC1, ICC2; F test of between-unit differences with df1 = units - 1 "
            "and df2 = respondents - units; respondents with a score and a unit); rwg(j) "
            "against the "
            "uniform null distribution of the construct's scale (multilevel::rwg.j), summarised "
            f"over units. Flagged: ICC(2) below {_cut(ICC2_MIN)} or mean rwg(j) below "
            f"{_cut(RWG_MIN)}."
            + (f" Respondents per unit: min {per.get('min'):g}, median {per.get('median'):g}, "
               f"max {per.get('max'):g}." if per else ""),
            decimals=dec, p_columns=("p",), flag_column="flag", bounded=agg_bounded,
            cuts=agg_cuts))
    gl = agg.get("group_level") or {}
    rows = _agg_rows(gl, "groups")
    if rows:
        out.append(ReportTable(
            "aggregation_groups", "Aggregation of Respondents to Groups (Clusters)",
            pd.DataFrame(rows), "levels",
            "The same statistics with the group (cluster) as the aggregate.",
            decimals=dec, p_columns=("p",), flag_column="flag", bounded=agg_bounded,
            cuts=agg_cuts))


# ---- network -------------------------------------------------------------------------------


_NET_LABELS = {"nodes": "nodes", "edges": "ties (distinct pairs)", "units": "surveyed units",
               "institutions": "other nodes (not surveyed units)", "directed": "directed",
               "density": "density", "components": "components",
               "largest_component": "nodes in the largest component",
               "mean_degree": "mean degree", "self_loops_dropped": "self-loops dropped",
               "duplicates_merged": "duplicate rows merged", "approximate":
               "path measures approximated by sampling"}


def _network_tables(results: dict, out: list) -> None:
    net = results.get("network") or {}
    if not net:
        return
    rows = []
    for k, v in net.items():
        if isinstance(v, bool):
            v = "yes" if v else "no"
        if isinstance(v, (int, float, str)) and not isinstance(v, bool):
            rows.append({"measure": _NET_LABELS.get(k, k.replace("_", " ")), "value": v})
    out.append(ReportTable("network", "Network Summary", _stat_frame(rows), "network",
                           "Ties merged per pair (weights summed).",
                           decimals={"value": 3}, bounded_rows=("density",)))
    groups = net.get("groups") or {}
    if groups:
        f = pd.DataFrame(groups).T
        f.index.name = "group"
        f = f.reset_index()
        f.columns = [str(c).replace("_", " ") for c in f.columns]
        out.append(ReportTable(
            "network_groups", "Network by Group (Cluster)", f, "network",
            "Per group of units: participants = units with at least one tie; ties, density and "
            "degree centralization (Freeman 1978) of the within-group subgraph; institution "
            "share = share of members' ties to non-unit partners; boundary share = share to "
            "other groups.",
            decimals=_dec([c for c in f.columns if c not in ("group", "participants", "units",
                                                             "ties")]),
            bounded=tuple(c for c in f.columns if c in ("density", "centralization",
                                                        "institution share",
                                                        "boundary share"))))
    method = net.get("measures_method") or {}
    if method:
        out.append(ReportTable("network_measures", "Network Measures (Columns of units.parquet)",
                               pd.DataFrame([{"column": k, "definition": v}
                                             for k, v in method.items()]), "network",
                               wrap=("definition",)))


# ---- models --------------------------------------------------------------------------------


def _model_tables(results: dict, out: list) -> None:
    for name, m in (results.get("models") or {}).items():
        test = "t" if m.get("test") == "t" else "z"
        coefs = m.get("coefficients") or {}
        with_df = any(c.get("df") is not None for c in coefs.values())
        rows = []
        for term, c in coefs.items():
            row = {"term": term, "B": c.get("estimate"), "SE": c.get("se"),
                   "beta": c.get("beta"), "95% CI low": c.get("ci_low"),
                   "95% CI high": c.get("ci_high"), test: c.get("z_or_t")}
            if with_df:
                row["df"] = c.get("df")
            row["p"] = c.get("p")
            rows.append(row)
        cols = ["term", "B", "SE", "beta", "95% CI low", "95% CI high", test] + (
            ["df"] if with_df else []) + ["p"]
        from pipeline.report.methods import inference_sentence  # noqa: PLC0415

        spec = next((x for x in ((results.get("config") or {}).get("analysis") or {}).get(
            "models") or [] if x.get("name") == name), {})
        out.append(ReportTable(
            f"model_{name}", f"Coefficients of Model '{name}'",
            pd.DataFrame(rows, columns=cols),
            "models",
            f"{m.get('family')} model{' (link: ' + m['link'] + ')' if m.get('link') else ''}, "
            f"estimated by {_estimator(m)}, n = {_count(m.get('n'))} (listwise: rows with a "
            "missing value in a model column left out). "
            + inference_sentence(m, spec) + ". B = estimate on the model's scale; beta = "
            "estimate with numeric variables z-scored (outcome unscaled for non-gaussian "
            "families).",
            decimals=_dec(("B", "SE", "beta", "95% CI low", "95% CI high", test)),
            p_columns=("p",), ci_pairs=(("95% CI", "95% CI low", "95% CI high"),), group=name,
            int_cols=("df",)))
        _inference_tables(name, m, out)
        _score_correction_table(name, m, out)
        _model_fit_table(name, m, out)
        ss = m.get("simple_slopes") or []
        if ss:
            labels = {"-1 SD": "mean \u2212 1 SD", "mean": "mean", "+1 SD": "mean + 1 SD"}
            rows = [{"moderator at": labels.get(s.get("at"), s.get("at")),
                     "moderator value": s.get("moderator_value"),
                     **({"moderator (raw)": s.get("moderator_value_raw")}
                        if any("moderator_value_raw" in x for x in ss) else {}),
                     "slope": s.get("slope"), "SE": s.get("se"), "CI low": s.get("ci_low"),
                     "CI high": s.get("ci_high"), test: s.get("z_or_t"),
                     **({"df": s.get("df")} if any(x.get("df") is not None for x in ss) else {}),
                     "p": s.get("p")}
                    for s in ss]
            out.append(ReportTable(
                f"slopes_{name}", f"Simple Slopes of {m.get('focal')} in Model '{name}'",
                pd.DataFrame(rows), "models",
                f"Slope of {m.get('focal')} at {m.get('moderator')} = mean - 1 SD, mean and "
                "mean + 1 SD over the model's rows, on the linear-predictor scale (moderator "
                "value on the model's scale; raw = before centring or standardising).",
                decimals=_dec(("moderator value", "moderator (raw)", "slope", "SE", "CI low",
                               "CI high", test)),
                p_columns=("p",), ci_pairs=(("95% CI", "CI low", "CI high"),), group=name,
                int_cols=("df",)))
        jn = m.get("johnson_neyman")
        if jn:
            rows = []
            for i, b in enumerate(jn.get("bounds") or []):
                raw = (jn.get("bounds_raw") or [None] * 2)
                rows.append({"quantity": f"Johnson-Neyman bound {i + 1}", "value": b,
                             "raw scale": raw[i] if i < len(raw) else None})
            rng = jn.get("range") or [None, None]
            rows.append({"quantity": f"observed {m.get('moderator')}: minimum", "value": rng[0],
                         "raw scale": None})
            rows.append({"quantity": f"observed {m.get('moderator')}: maximum", "value": rng[1],
                         "raw scale": None})
            rows.append({"quantity": f"critical value ({jn.get('distribution')})",
                         "value": jn.get("critical_value"), "raw scale": None})
            frame = _stat_frame(rows)
            if frame["raw scale"].isna().all():
                frame = frame.drop(columns="raw scale")
            inside = jn.get("inside_significant")
            where = ("between the bounds" if inside else "outside the bounds") \
                if inside is not None else ""
            out.append(ReportTable(
                f"jn_{name}", f"Johnson-Neyman Region of Significance in Model '{name}'", frame,
                "models",
                (f"The slope of {m.get('focal')} differs from zero (\u03b1 = {_cut(jn.get('alpha') or 0.05)}) "
                 f"{where}; within the data: {jn.get('summary')}." if where else
                 f"{jn.get('summary') or ''}"),
                decimals={"value": 3, "raw scale": 3}, group=name))
        me = m.get("marginal_effects") or []
        if me:
            labels = {"-1 SD": "mean \u2212 1 SD", "mean": "mean", "+1 SD": "mean + 1 SD"}
            rows = [{"moderator at": labels.get(e.get("at"), e.get("at")),
                     "moderator value": e.get("moderator_value"), "AME": e.get("ame"),
                     "SE": e.get("se"), "CI low": e.get("ci_low"), "CI high": e.get("ci_high"),
                     "z": e.get("z_or_t", e.get("z")), "p": e.get("p")} for e in me]
            out.append(ReportTable(
                f"ame_{name}", f"Average Marginal Effects of {m.get('focal')} in Model '{name}'",
                pd.DataFrame(rows), "models",
                f"Average over the model's rows of d E[{_outcome(m)}] / d {m.get('focal')} with "
                f"{m.get('moderator')} set to each value (response scale); delta-method SEs.",
                decimals=_dec(("moderator value", "AME", "SE", "CI low", "CI high", "z")),
                p_columns=("p",), ci_pairs=(("95% CI", "CI low", "CI high"),), group=name))
        rnd = m.get("random")
        if rnd:
            rows = []
            for comp in (rnd.get("variance") or {}):
                rows.append({"component": comp, "variance": rnd["variance"].get(comp),
                             "SD": (rnd.get("sd") or {}).get(comp)})
            out.append(ReportTable(
                f"random_{name}", f"Random Intercept by {rnd.get('group')} in Model '{name}'",
                pd.DataFrame(rows), "models",
                f"{rnd.get('n_groups')} groups, {rnd.get('estimation')} estimation"
                + (f"; ICC = {rnd['icc']:.3f}" if rnd.get("icc") is not None else "")
                + ("; the fit is singular (variance at its boundary)"
                   if rnd.get("singular") else "")
                + ".", decimals=_dec(("variance", "SD"), 4), group=name))
        med = m.get("mediation")
        if med:
            _mediation_table(name, med, out)


def _estimator(m: dict) -> str:
    if m.get("random"):
        return (m["random"].get("estimation") or "REML") + " (lme4)"
    return {"gaussian": "ordinary least squares", "negbin": "maximum likelihood (MASS::glm.nb)"
            }.get(m.get("family"), "maximum likelihood (IRLS, as glm)")


def _inference_tables(name: str, m: dict, out: list) -> None:
    """Wild cluster bootstrap, effect sizes and corrected p-values of a model, when present."""
    wb = m.get("wild_bootstrap") or {}
    if wb:
        rows = [{"term": wb.get("term"), "p": wb.get("p"), "CI low": wb.get("ci_low"),
                 "CI high": wb.get("ci_high"), "draws": wb.get("draws"),
                 "weights": wb.get("weights"), "seed": wb.get("seed")}]
        out.append(ReportTable(
            f"wild_{name}", f"Wild Cluster Bootstrap of Model '{name}'", pd.DataFrame(rows),
            "models",
            ("Restricted score wild cluster bootstrap (Kline & Santos 2012)"
             if "score" in str(wb.get("method") or "") else "Restricted wild cluster bootstrap")
            + " (null imposed) of the term's test, with "
            f"{wb.get('weights')} weights"
            + (f", all {wb.get('draws'):,} sign vectors of the {wb.get('clusters')} clusters (exact)"
               if wb.get("enumerated") and isinstance(wb.get("draws"), int) else "")
            + " (Cameron, Gelbach & Miller 2008; Webb 2023); the "
            "interval inverts the bootstrap test. Use it beside the cluster-robust test when "
            "clusters are few.",
            decimals=_dec(("CI low", "CI high")), p_columns=("p",),
            ci_pairs=(("95% CI", "CI low", "CI high"),), group=name))
    es = m.get("effect_sizes") or {}
    if es:
        rows = []
        if es.get("delta_r2") is not None:
            rows.append({"effect size": "\u0394R\u00b2 of the interaction", "value": es["delta_r2"],
                         "CI low": None, "CI high": None})
        if es.get("f2") is not None:
            rows.append({"effect size": "Cohen's f\u00b2 of the interaction", "value": es["f2"],
                         "CI low": None, "CI high": None})
        lr = es.get("lr_test") or {}
        if lr:
            rows.append({"effect size": "likelihood-ratio test of the interaction: chi-square",
                         "value": lr.get("chisq"), "CI low": None, "CI high": None})
            rows.append({"effect size": "likelihood-ratio test: df", "value": lr.get("df"),
                         "CI low": None, "CI high": None})
            rows.append({"effect size": "likelihood-ratio test: p", "value": lr.get("p"),
                         "CI low": None, "CI high": None})
        label = {"poisson": "rate ratio", "negbin": "rate ratio", "logit": "odds ratio"}.get(
            m.get("family"), "exp(B)")
        for term, v in (es.get("exp_coef") or {}).items():
            rows.append({"effect size": f"{label}: {term}", "value": v.get("estimate"),
                         "CI low": v.get("ci_low"), "CI high": v.get("ci_high")})
        si = es.get("standardized_interaction")
        if isinstance(si, (int, float)):
            rows.append({"effect size": "standardised interaction", "value": si,
                         "CI low": None, "CI high": None})
        elif isinstance(si, dict):
            rows.append({"effect size": "standardised interaction", "value": si.get("estimate"),
                         "CI low": si.get("ci_low"), "CI high": si.get("ci_high")})
        if rows:
            out.append(ReportTable(
                f"effects_{name}", f"Effect Sizes of Model '{name}'", _stat_frame(rows),
                "models",
                _effects_note(es),
                decimals={"value": 3, "CI low": 3, "CI high": 3},
                ci_pairs=(("95% CI", "CI low", "CI high"),), group=name,
                p_rows=("likelihood-ratio test: p",), int_rows=("likelihood-ratio test: df",),
                bounded_rows=("\u0394R\u00b2 of the interaction",)))
    cor = m.get("corrected") or {}
    if isinstance(cor, dict) and cor:
        method = cor.get("method")
        ps = cor.get("p") if isinstance(cor.get("p"), dict) else {
            k: v for k, v in cor.items() if k != "method"}
        rows = []
        for term, v in ps.items():
            if isinstance(v, dict):
                rows.append({"term": term, "p": v.get("p"), "p corrected": v.get(
                    "p_adjusted", v.get("p_corrected"))})
            elif isinstance(v, (int, float)):
                rows.append({"term": term, "p": (m.get("coefficients") or {}).get(
                    term, {}).get("p"), "p corrected": v})
        if rows:
            out.append(ReportTable(
                f"corrected_{name}", f"Corrected p-Values of Model '{name}'",
                pd.DataFrame(rows), "models",
                f"p-values corrected for multiple tests ({method})." if method else
                "p-values corrected for multiple tests.",
                p_columns=("p", "p corrected"), group=name))


def _score_correction_table(name: str, m: dict, out: list) -> None:
    """The model on regression-calibrated unit scores beside the uncorrected model."""
    sc = m.get("score_correction") or {}
    cor, unc = sc.get("coefficients") or {}, sc.get("uncorrected") or {}
    if not cor:
        return
    rows = []
    for term, c in cor.items():
        u = unc.get(term) or {}
        rows.append({"term": term, "B uncorrected": u.get("estimate"), "SE uncorrected": u.get("se"),
                     "p uncorrected": u.get("p"), "B corrected": c.get("estimate"),
                     "SE corrected": c.get("se"), "CI low": c.get("ci_low"),
                     "CI high": c.get("ci_high"), "p corrected": c.get("p")})
    scores = sc.get("scores") or {}
    rel = "; ".join(
        f"{col}: reliability of the unit means {_num3(st.get('reliability_mean'))} on average "
        f"(from {_num3(st.get('reliability_min'))} to {_num3(st.get('reliability_max'))}), "
        f"true between-unit variance {_num3(st.get('var_true'))} of the observed "
        f"{_num3(st.get('var_observed'))}"
        + (f" (including the small-sample bias adjustment {st['small_sample_adjustment']:.2g}; "
           "Fuller 1987)" if st.get("small_sample_adjustment") else "")
        for col, st in scores.items())
    what = ("latent: the unit's construct is its latent mean, within-unit sampling error is "
            "error (Croon & van Veldhoven 2007; Lüdtke et al. 2008)"
            if sc.get("method") == "latent" else
            "measurement: the unit's construct is its respondents' mean true score, the CFA's "
            "measurement error is error")
    out.append(ReportTable(
        f"scorecorr_{name}", f"Model '{name}' on Calibrated Unit Scores",
        pd.DataFrame(rows), "models",
        f"The model refitted with each unit's aggregated score replaced by its regression-"
        f"calibrated value ({what}), given the model's other unit-level predictors "
        f"({', '.join(sc.get('covariates') or []) or 'none'}). {rel}. "
        + ("The corrected estimates are the model's headline coefficients. " if sc.get("headline")
           else "The uncorrected estimates are the model's headline coefficients. ")
        + (f"Corrected SEs, CIs and p-values: delete-one-cluster jackknife of the whole two-step "
           f"estimator ({sc.get('jackknife_clusters')} clusters; t with G - 1 df), so the "
           "calibration's own uncertainty is included." if sc.get("jackknife_clusters") else
           "Corrected standard errors treat the calibrated scores as known."),
        decimals=_dec(("B uncorrected", "SE uncorrected", "B corrected", "SE corrected",
                       "CI low", "CI high")),
        p_columns=("p uncorrected", "p corrected"), ci_pairs=(("95% CI corrected", "CI low", "CI high"),),
        group=name))


def _num3(v) -> str:
    return "n/a" if not isinstance(v, (int, float)) else f"{v:.3f}"


def _outcome(m: dict) -> str:
    f = m.get("formula") or ""
    return f.split("~", 1)[0].strip() if "~" in f else "y"


def _model_fit_table(name: str, m: dict, out: list) -> None:
    rows = [{"statistic": "n (rows used)", "value": m.get("n")},
            {"statistic": "rows dropped (missing values)", "value": m.get("n_dropped")}]
    if m.get("r2") is not None:
        rows.append({"statistic": f"R\u00b2 ({m.get('r2_type')})", "value": m.get("r2")})
    if m.get("r2_conditional") is not None:
        rows.append({"statistic": "R\u00b2 conditional (Nakagawa & Schielzeth)",
                     "value": m.get("r2_conditional")})
    if m.get("adj_r2") is not None:
        rows.append({"statistic": "adjusted R\u00b2", "value": m.get("adj_r2")})
    for k, label in (("aic", "AIC"), ("bic", "BIC"), ("loglik", "log-likelihood"),
                     ("deviance", "deviance"), ("null_deviance", "null deviance"),
                     ("df_residual", "residual df"), ("theta", "negative binomial theta"),
                     ("theta_se", "theta SE")):
        if m.get(k) is not None:
            rows.append({"statistic": label, "value": m.get(k)})
    d = m.get("diagnostics") or {}
    disp = d.get("dispersion") or {}
    if disp.get("ratio") is not None:
        rows.append({"statistic": "dispersion (Pearson chi-square / df)", "value": disp["ratio"]})
    if d.get("condition_number") is not None:
        rows.append({"statistic": "condition number", "value": d["condition_number"]})
    for term, v in (d.get("vif") or {}).items():
        rows.append({"statistic": f"VIF: {term}", "value": v})
    bp = d.get("breusch_pagan") or {}
    if bp.get("p") is not None:
        rows.append({"statistic": "Breusch-Pagan test: p", "value": bp["p"]})
    out.append(ReportTable(f"fit_{name}", f"Fit and Diagnostics of Model '{name}'",
                           _stat_frame(rows), "models",
                           "Dispersion: Pearson chi-square / residual df (near 1 for a Poisson "
                           "model without overdispersion); condition number of the design "
                           "matrix with columns scaled to unit length (Belsley, Kuh & Welsch "
                           "1980); Breusch-Pagan: Koenker's studentised test (Breusch & Pagan "
                           "1979; Koenker 1981), gaussian models only.",
                           decimals={"value": 3}, group=name,
                           p_rows=("Breusch-Pagan test: p",),
                           int_rows=("n (rows used)", "rows dropped (missing values)",
                                     "residual df"),
                           bounded_rows=tuple(r["statistic"] for r in rows
                                              if str(r["statistic"]).startswith(
                                                  ("R\u00b2", "adjusted R\u00b2")))))


def _mediation_table(name: str, med: dict, out: list) -> None:
    rows = []
    paths = med.get("paths") or {}
    for path, by_m in paths.items():
        for mname, v in (by_m or {}).items():
            label = {"a": f"a: {med.get('x')} -> {mname}", "b": f"b: {mname} -> {med.get('y')}"}
            rows.append({"effect": label.get(path, f"{path}: {mname}"),
                         "estimate": v.get("estimate"), "SE": v.get("se"),
                         "CI low": v.get("ci_low"), "CI high": v.get("ci_high"),
                         "p": v.get("p"), "CI": "Wald"})
    for key, label in (("total_effect", f"c: total effect of {med.get('x')}"),
                       ("direct_effect", f"c': direct effect of {med.get('x')}")):
        v = med.get(key) or {}
        if v:
            rows.append({"effect": label, "estimate": v.get("estimate"), "SE": v.get("se"),
                         "CI low": v.get("ci_low"), "CI high": v.get("ci_high"),
                         "p": v.get("p"), "CI": "Wald"})
    level = med.get("ci_level") or 0.95
    for mname, v in (med.get("indirect") or {}).items():
        ci = v.get("ci_percentile") or [None, None]
        bc = v.get("ci_bias_corrected") or [None, None]
        rows.append({"effect": f"indirect via {mname} (a x b)", "estimate": v.get("estimate"),
                     "SE": v.get("boot_se"), "CI low": ci[0], "CI high": ci[1], "p": None,
                     "CI": "bootstrap percentile"})
        rows.append({"effect": f"indirect via {mname} (a x b)", "estimate": v.get("estimate"),
                     "SE": v.get("boot_se"), "CI low": bc[0], "CI high": bc[1], "p": None,
                     "CI": "bootstrap bias-corrected"})
    for mname, v in (med.get("index_of_moderated_mediation") or {}).items():
        ci = v.get("ci_percentile") or [None, None]
        rows.append({"effect": f"index of moderated mediation ({mname})",
                     "estimate": v.get("estimate"), "SE": v.get("boot_se"), "CI low": ci[0],
                     "CI high": ci[1], "p": None, "CI": "bootstrap percentile"})
    for mname, recs in (med.get("conditional_indirect") or {}).items():
        for v in recs or []:
            ci = v.get("ci_percentile") or [None, None]
            rows.append({"effect": f"conditional indirect via {mname} at {med.get('moderator')} "
                                   f"{v.get('at')}", "estimate": v.get("estimate"),
                         "SE": v.get("boot_se"), "CI low": ci[0], "CI high": ci[1], "p": None,
                         "CI": "bootstrap percentile"})
    out.append(ReportTable(
        f"mediation_{name}", f"Mediation in Model '{name}' ({med.get('model')})", pd.DataFrame(rows),
        "models",
        f"n = {med.get('n')}; paths by OLS with Wald CIs"
        + (f" and cluster-robust CR1 SEs over {med.get('clusters')} clusters (sandwich::vcovCL, "
           "HC1; t with G - 1 df)" if med.get("path_se") == "CR1" else "")
        + (f" and cluster-robust CR2 SEs over {med.get('clusters')} clusters with Satterthwaite "
           "df (clubSandwich::coef_test)" if med.get("path_se") == "CR2" else "")
        + f"; indirect effects with {med.get('n_boot')} bootstrap resamples "
        + ("of whole clusters, drawn with replacement " if med.get("resampling") == "clusters" else "")
        + f"(seed {med.get('seed')}, "
        f"{level * 100:.0f}% CIs; SE = bootstrap SD)"
        + (f", {med.get('n_boot_failed')} resamples failed" if med.get("n_boot_failed") else "")
        + (f"; covariates: {', '.join(med.get('covariates'))}" if med.get("covariates") else "")
        + " (Hayes 2018).",
        decimals=_dec(("estimate", "SE", "CI low", "CI high")), p_columns=("p",),
        ci_pairs=((f"{level * 100:.0f}% CI", "CI low", "CI high"),), group=name))


# ---- provenance ----------------------------------------------------------------------------


def _provenance_tables(results: dict, out: list) -> None:
    inputs = results.get("inputs") or []
    out.append(ReportTable("inputs", "Input Files", pd.DataFrame(
        inputs, columns=["role", "path", "sha256"]), "provenance",
        "SHA-256 checksums identify the exact files analysed (sha256sum FILE reproduces them)."))
    sw = results.get("software") or {}
    rows = [{"software": "socap", "version": sw.get("socap")},
            {"software": "Python", "version": sw.get("python")}]
    rows += [{"software": k, "version": v} for k, v in (sw.get("packages") or {}).items()]
    out.append(ReportTable("software", "Software Versions", pd.DataFrame(rows), "provenance"))
