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
    flag_above
        Column -> value above which the cell is marked (e.g. HTMT > .85).
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
    int_rows
        Row labels of statistic/value tables holding degrees of freedom or counts: integers.
    fixed
        Column -> the SE column whose exact 0 marks a fixed parameter: the cell shows an em
        dash (a fixed loading has no SE, z, p or CI).
    name_headers
        The headers after the first are names from the study (constructs of a correlation
        matrix), shown as they are.
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
    fixed: dict = field(default_factory=dict)
    name_headers: bool = False
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
    out.append(ReportTable("warnings", "Warnings of the run",
                           pd.DataFrame(warnings, columns=["number", "stage", "message"]),
                           "warnings", wrap=("message",)))
    _provenance_tables(results, out)
    return _unique_keys(out)


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
    out.append(ReportTable("sample_flow", "Sample flow", pd.DataFrame(flow), "sample",
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
        out.append(ReportTable("files", "Survey files read", pd.DataFrame(rows), "sample"))
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
            "missing", "Missing answers by item and reason", pd.DataFrame(rows), "sample",
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
        out.append(ReportTable("items", "Item descriptives", desc, "measurement",
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
        "reliability", "Reliability by construct", pd.DataFrame(rows), "measurement",
        "Cronbach's alpha on pairwise-complete data with the Feldt 95% confidence interval "
        "(psych::alpha); McDonald's omega total from a one-factor model; average r = mean "
        f"inter-item correlation. Flagged: alpha below {_cut(ALPHA_THRESHOLD)} or omega below "
        ".70.",
        decimals=_dec(("alpha", "alpha CI low", "alpha CI high", "omega total", "average r")),
        ci_pairs=(("alpha 95% CI", "alpha CI low", "alpha CI high"),), flag_column="flag"))
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
        "reliability_items", "Item statistics for reliability", pd.DataFrame(rows),
        "measurement",
        "Item-rest r = correlation of the item with the sum of the construct's other items "
        "(r.drop of psych::alpha); alpha if deleted = raw alpha without the item. Flagged: "
        "item-rest r below .30, or alpha higher without the item.",
        decimals=_dec(("mean", "sd", "missing share", "item-rest r", "alpha if deleted")),
        flag_column="flag"))


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
    out.append(ReportTable("efa_adequacy", "Sampling adequacy and the number of factors",
                           _stat_frame(rows), "efa", decimals={"value": 3}, wrap=("note",),
                           p_rows=("Bartlett's test: p",)))
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
            "efa_loadings", f"EFA pattern loadings ({efa.get('method')} extraction, "
            f"{efa.get('rotation')} rotation, n = {_count(efa.get('n'))})", pd.DataFrame(rows),
            "efa",
            "Loadings below .30 in absolute value are greyed; h2 = communality. Factors in order "
            "of variance explained; pairwise-complete correlations (psych::fa).",
            decimals=_dec(factors + ["h2"], 2), grey_below={f: LOADING_GREY for f in factors}))
        var = efa.get("variance") or {}
        if var:
            vrows = [{"factor": f, "SS loadings": v.get("ss_loadings"),
                      "proportion of variance": v.get("proportion"),
                      "cumulative proportion": v.get("cumulative")} for f, v in var.items()]
            out.append(ReportTable("efa_variance", "Variance explained by the factors",
                                   pd.DataFrame(vrows), "efa",
                                   decimals=_dec(("SS loadings", "proportion of variance",
                                                  "cumulative proportion"))))
        phi = efa.get("factor_correlations")
        if isinstance(phi, dict) and len(phi) > 1 and efa.get("rotation") not in ("varimax",
                                                                                 "none"):
            out.append(ReportTable("efa_phi", "Factor correlations (oblique rotation)",
                                   _lower_triangle(phi, list(phi), "factor"), "efa",
                                   decimals=_dec(list(phi), 2)))
    fit = efa.get("fit") or {}
    if fit:
        ci = fit.get("rmsea_ci") or [None, None]
        frows = [{"statistic": "chi-square", "value": fit.get("chi2")},
                 {"statistic": "df", "value": fit.get("df")},
                 {"statistic": "p", "value": fit.get("p")},
                 {"statistic": "TLI", "value": fit.get("tli")},
                 {"statistic": "RMSEA", "value": fit.get("rmsea")},
                 {"statistic": "RMSEA 90% CI low", "value": ci[0]},
                 {"statistic": "RMSEA 90% CI high", "value": ci[1]},
                 {"statistic": "BIC", "value": fit.get("bic")}]
        out.append(ReportTable("efa_fit", "Fit of the EFA model", _stat_frame(frows), "efa",
                               "Likelihood-ratio fit of the extracted factor model "
                               "(as psych::fa reports it).", decimals={"value": 3},
                               p_rows=("p",)))


# ---- CFA -----------------------------------------------------------------------------------


def _cfa_tables(results: dict, out: list) -> None:
    cfa = results.get("cfa") or {}
    if not cfa:
        return
    fit = cfa.get("fit") or {}
    rows = []
    labels = {"chisq": "chi-square", "df": "df", "pvalue": "p", "cfi": "CFI", "tli": "TLI",
              "rmsea": "RMSEA", "srmr": "SRMR", "aic": "AIC", "bic": "BIC"}
    for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        if k not in fit:
            continue
        cut = HU_BENTLER.get(k)
        v = fit.get(k)
        verdict = ""
        if cut and v is not None:
            verdict = "meets" if (v >= cut[1] if cut[0] == ">=" else v <= cut[1]) else "misses"
        rows.append({"index": labels[k], "value": v,
                     "cutoff (Hu & Bentler 1999)": f"{cut[0]} {cut[1]:.2f}" if cut else "",
                     "verdict": verdict})
        if k == "rmsea" and fit.get("rmsea_ci"):
            ci = fit["rmsea_ci"]
            rows.append({"index": "RMSEA 90% CI low", "value": ci[0],
                         "cutoff (Hu & Bentler 1999)": "", "verdict": ""})
            rows.append({"index": "RMSEA 90% CI high", "value": ci[1],
                         "cutoff (Hu & Bentler 1999)": "", "verdict": ""})
    out.append(ReportTable(
        "cfa_fit", f"CFA model fit ({cfa.get('estimator', 'ML')}, n = {_count(cfa.get('n'))})",
        _stat_frame(rows), "cfa",
        "Maximum likelihood on listwise-complete rows as lavaan::cfa does by default"
        + (f"; {cfa.get('n_dropped_listwise')} respondents with a missing item dropped"
           if cfa.get("n_dropped_listwise") else "")
        + ". Cutoffs: Hu & Bentler (1999); 'misses' marks an index outside its cutoff.",
        decimals={"value": 3}, p_rows=("p",), flag_column="verdict", flag_values=("misses",)))
    rows = []
    for c, its in (cfa.get("loadings") or {}).items():
        for item, v in its.items():
            std = v.get("std")
            rows.append({"factor": c, "indicator": item, "estimate": v.get("estimate"),
                         "SE": v.get("se"), "std": std, "std SE": v.get("std_se"),
                         "flag": "std loading < .50" if std is not None and abs(std) < 0.5 else ""})
    for h, parts in (cfa.get("higher_order") or {}).items():
        for c, v in parts.items():
            std = v.get("std")
            rows.append({"factor": h, "indicator": c, "estimate": v.get("estimate"),
                         "SE": v.get("se"), "std": std, "std SE": v.get("std_se"),
                         "flag": "std loading < .50" if std is not None and abs(std) < 0.5 else ""})
    if rows:
        out.append(ReportTable(
            "cfa_loadings", "CFA loadings", pd.DataFrame(rows), "cfa",
            "estimate = unstandardised loading (the first indicator of each factor fixed to 1, "
            "SE 0); std = completely standardised loading (lavaan std.all) with its SE. "
            "Flagged: standardised loading below .50.",
            decimals=_dec(("estimate", "SE", "std", "std SE")), flag_column="flag"))
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
            "cfa_validity", "Composite reliability and average variance extracted",
            pd.DataFrame(rows), "cfa",
            "CR (composite reliability) >= .70 and AVE (average variance extracted) >= .50 are "
            "the usual benchmarks; Fornell-Larcker criterion: a construct's AVE should exceed its "
            "squared correlation with every other construct (Fornell & Larcker 1981).",
            decimals=_dec(("CR", "AVE")), flag_column="flag"))
    htmt = cfa.get("htmt")
    if isinstance(htmt, dict) and len(htmt) > 1:
        names = list(htmt)
        out.append(ReportTable(
            "htmt", "Heterotrait-monotrait ratios (HTMT)",
            _lower_triangle(htmt, names, "construct"), "cfa",
            f"HTMT below {HTMT_MAX:.2f} supports discriminant validity (Henseler, Ringle & "
            "Sarstedt 2015); ratios above it are marked.",
            decimals=_dec(names), flag_above={n: HTMT_MAX for n in names}))
    if len(phi) > 1:
        names = list(phi)
        out.append(ReportTable("cfa_phi", "Latent factor correlations (CFA)",
                               _lower_triangle(phi, names, "factor"), "cfa", decimals=_dec(names)))
    hints = cfa.get("modification_hints") or []
    if hints:
        rows = [{"parameter": f"{h.get('lhs')} {h.get('op')} {h.get('rhs')}",
                 "MI": h.get("mi"), "EPC": h.get("epc"), "std EPC": h.get("sepc_all")}
                for h in hints[:10]]
        out.append(ReportTable(
            "cfa_mi", "Largest modification indices", pd.DataFrame(rows), "cfa",
            "Score tests of fixed parameters (lavaan::modindices): MI = expected drop in "
            "chi-square when the parameter is freed, EPC its expected value. Freeing parameters "
            "on these grounds alone capitalises on chance.",
            decimals=_dec(("MI", "EPC", "std EPC"))))


# ---- invariance ----------------------------------------------------------------------------


def _invariance_tables(results: dict, out: list) -> None:
    inv = results.get("invariance") or {}
    if not inv:
        return
    rows = []
    levels = [("configural", inv.get("configural")), ("metric", inv.get("metric")),
              ("scalar", inv.get("scalar"))]
    partial = inv.get("partial") or {}
    for name in ("metric", "scalar"):
        if partial.get(name):
            levels.append((f"partial {name}", partial[name]))
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
    note = (f"Multi-group CFA across {inv.get('group')} (ML, equality constraints as "
            "lavaan's group.equal). A level holds when")
    if crit:
        note += (f" CFI drops by at most {crit.get('delta_cfi')} and RMSEA rises by at most "
                 f"{crit.get('delta_rmsea')} against the previous level (Chen 2007)")
        if crit.get("cfi_min") is not None:
            note += (f"; configural fit needs CFI >= {crit.get('cfi_min')} and RMSEA <= "
                     f"{crit.get('rmsea_max')}")
    note += ". The chi-square difference test is shown for completeness; it rejects trivial "
    note += "differences in large samples."
    frame = pd.DataFrame(rows)
    if "freed" in frame and not frame["freed"].astype(bool).any():
        frame = frame.drop(columns="freed")
    out.append(ReportTable(
        "invariance_fit", "Measurement invariance: configural, metric and scalar models", frame,
        "invariance", note,
        decimals=_dec(("\u03c7\u00b2", "CFI", "RMSEA", "RMSEA CI low", "RMSEA CI high", "SRMR",
                       "\u0394CFI", "\u0394RMSEA", "\u0394\u03c7\u00b2")),
        p_columns=("p", "p (\u0394\u03c7\u00b2)"), flag_column="holds", flag_values=("no",),
        ci_pairs=(("RMSEA 90% CI", "RMSEA CI low", "RMSEA CI high"),)))
    n = inv.get("n") or {}
    if n:
        out.append(ReportTable("invariance_groups", f"Groups compared ({inv.get('group')})",
                               pd.DataFrame([{"group": g, "complete rows": v}
                                             for g, v in n.items()]), "invariance",
                               "Listwise-complete respondents per group; the first group is the "
                               "reference for latent means."))
    sug = partial.get("suggestions") or []
    if sug:
        out.append(ReportTable(
            "invariance_release", "Constraints that fit worst (score tests)",
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
                             "CI high": v.get("ci_high"), "z": v.get("z"), "p": v.get("pvalue")})
        out.append(ReportTable(
            "latent_means", f"Regional (group) latent means relative to {ref}",
            pd.DataFrame(rows), "invariance",
            f"Latent mean differences from the (partial) scalar model, in the latent variable's "
            f"units; {ref}'s latent means are fixed at 0.",
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
    rows = _agg_rows(agg, "units")
    per = agg.get("respondents_per_unit") or {}
    if rows:
        out.append(ReportTable(
            "aggregation", "Aggregation of respondents to units", pd.DataFrame(rows), "levels",
            "ICC(1) and ICC(2) from a one-way ANOVA of respondents' scores by unit "
            "(multilevel::ICC1, ICC2; F test of between-unit differences); rwg(j) against the "
            "uniform null distribution of the construct's scale (multilevel::rwg.j), summarised "
            f"over units. Flagged: ICC(2) below {_cut(ICC2_MIN)} or mean rwg(j) below "
            f"{_cut(RWG_MIN)}."
            + (f" Respondents per unit: min {per.get('min'):g}, median {per.get('median'):g}, "
               f"max {per.get('max'):g}." if per else ""),
            decimals=dec, p_columns=("p",), flag_column="flag"))
    gl = agg.get("group_level") or {}
    rows = _agg_rows(gl, "groups")
    if rows:
        out.append(ReportTable(
            "aggregation_groups", "Aggregation of respondents to groups (clusters)",
            pd.DataFrame(rows), "levels",
            "The same statistics with the group (cluster) as the aggregate.",
            decimals=dec, p_columns=("p",), flag_column="flag"))


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
    out.append(ReportTable("network", "Network summary", _stat_frame(rows), "network",
                           "Ties merged per pair (weights summed).",
                           decimals={"value": 3}))
    groups = net.get("groups") or {}
    if groups:
        f = pd.DataFrame(groups).T
        f.index.name = "group"
        f = f.reset_index()
        f.columns = [str(c).replace("_", " ") for c in f.columns]
        out.append(ReportTable(
            "network_groups", "Network by group (cluster)", f, "network",
            "Per group of units: participants = units with at least one tie; ties, density and "
            "degree centralization (Freeman 1978) of the within-group subgraph; institution "
            "share = share of members' ties to non-unit partners; boundary share = share to "
            "other groups.",
            decimals=_dec([c for c in f.columns if c not in ("group", "participants", "units",
                                                             "ties")])))
    method = net.get("measures_method") or {}
    if method:
        out.append(ReportTable("network_measures", "Network measures (columns of units.parquet)",
                               pd.DataFrame([{"column": k, "definition": v}
                                             for k, v in method.items()]), "network",
                               wrap=("definition",)))


# ---- models --------------------------------------------------------------------------------


def _model_tables(results: dict, out: list) -> None:
    for name, m in (results.get("models") or {}).items():
        test = "t" if m.get("test") == "t" else "z"
        rows = []
        for term, c in (m.get("coefficients") or {}).items():
            rows.append({"term": term, "B": c.get("estimate"), "SE": c.get("se"),
                         "beta": c.get("beta"), "95% CI low": c.get("ci_low"),
                         "95% CI high": c.get("ci_high"), test: c.get("z_or_t"),
                         "p": c.get("p")})
        se_name = {"cluster": "cluster-robust", "hc3": "HC3", "classical": "classical"}.get(
            m.get("se_type"), m.get("se_type") or "")
        out.append(ReportTable(
            f"model_{name}", f"Coefficients ('{name}')",
            pd.DataFrame(rows, columns=["term", "B", "SE", "beta", "95% CI low", "95% CI high",
                                        test, "p"]),
            "models",
            f"{m.get('family')} model{' (link: ' + m['link'] + ')' if m.get('link') else ''}, "
            f"n = {_count(m.get('n'))}, {se_name} standard errors, "
            f"{m.get('ci_method', 'Wald')} 95% "
            "confidence intervals. B = estimate on the model's scale; beta = estimate with "
            "numeric variables z-scored (outcome unscaled for non-gaussian families).",
            decimals=_dec(("B", "SE", "beta", "95% CI low", "95% CI high", test)),
            p_columns=("p",), ci_pairs=(("95% CI", "95% CI low", "95% CI high"),), group=name))
        _model_fit_table(name, m, out)
        ss = m.get("simple_slopes") or []
        if ss:
            labels = {"-1 SD": "mean \u2212 1 SD", "mean": "mean", "+1 SD": "mean + 1 SD"}
            rows = [{"moderator at": labels.get(s.get("at"), s.get("at")),
                     "moderator value": s.get("moderator_value"),
                     **({"moderator (raw)": s.get("moderator_value_raw")}
                        if any("moderator_value_raw" in x for x in ss) else {}),
                     "slope": s.get("slope"), "SE": s.get("se"), "CI low": s.get("ci_low"),
                     "CI high": s.get("ci_high"), test: s.get("z_or_t"), "p": s.get("p")}
                    for s in ss]
            out.append(ReportTable(
                f"slopes_{name}", f"Simple slopes of {m.get('focal')} ('{name}')",
                pd.DataFrame(rows), "models",
                f"Slope of {m.get('focal')} at {m.get('moderator')} = mean - 1 SD, mean and "
                "mean + 1 SD over the model's rows, on the linear-predictor scale (moderator "
                "value on the model's scale; raw = before centring or standardising).",
                decimals=_dec(("moderator value", "moderator (raw)", "slope", "SE", "CI low",
                               "CI high", test)),
                p_columns=("p",), ci_pairs=(("95% CI", "CI low", "CI high"),), group=name))
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
                f"jn_{name}", f"Johnson-Neyman region of significance ('{name}')", frame,
                "models",
                (f"The slope of {m.get('focal')} differs from zero (alpha = {jn.get('alpha')}) "
                 f"{where}; within the data: {jn.get('summary')}." if where else
                 f"{jn.get('summary') or ''}"),
                decimals={"value": 3, "raw scale": 3}, group=name))
        me = m.get("marginal_effects") or []
        if me:
            labels = {"-1 SD": "mean \u2212 1 SD", "mean": "mean", "+1 SD": "mean + 1 SD"}
            rows = [{"moderator at": labels.get(e.get("at"), e.get("at")),
                     "moderator value": e.get("moderator_value"), "AME": e.get("ame"),
                     "SE": e.get("se"), "CI low": e.get("ci_low"), "CI high": e.get("ci_high"),
                     "z": e.get("z"), "p": e.get("p")} for e in me]
            out.append(ReportTable(
                f"ame_{name}", f"Average marginal effects of {m.get('focal')} ('{name}')",
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
                f"random_{name}", f"Random intercept by {rnd.get('group')} ('{name}')",
                pd.DataFrame(rows), "models",
                f"{rnd.get('n_groups')} groups, {rnd.get('estimation')} estimation"
                + (f"; ICC = {rnd['icc']:.3f}" if rnd.get("icc") is not None else "")
                + ("; the fit is singular (variance at its boundary)"
                   if rnd.get("singular") else "")
                + ".", decimals=_dec(("variance", "SD"), 4), group=name))
        med = m.get("mediation")
        if med:
            _mediation_table(name, med, out)


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
    out.append(ReportTable(f"fit_{name}", f"Fit and diagnostics ('{name}')", _stat_frame(rows),
                           "models", decimals={"value": 3}, group=name,
                           p_rows=("Breusch-Pagan test: p",)))


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
        f"mediation_{name}", f"Mediation ('{name}', {med.get('model')})", pd.DataFrame(rows),
        "models",
        f"n = {med.get('n')}; paths by OLS with Wald CIs; indirect effects with "
        f"{med.get('n_boot')} bootstrap resamples (seed {med.get('seed')}, "
        f"{level * 100:.0f}% CIs; SE = bootstrap SD)"
        + (f", {med.get('n_boot_failed')} resamples failed" if med.get("n_boot_failed") else "")
        + (f"; covariates: {', '.join(med.get('covariates'))}" if med.get("covariates") else "")
        + " (Hayes 2018).",
        decimals=_dec(("estimate", "SE", "CI low", "CI high")), p_columns=("p",),
        ci_pairs=((f"{level * 100:.0f}% CI", "CI low", "CI high"),), group=name))


# ---- provenance ----------------------------------------------------------------------------


def _provenance_tables(results: dict, out: list) -> None:
    inputs = results.get("inputs") or []
    out.append(ReportTable("inputs", "Input files", pd.DataFrame(
        inputs, columns=["role", "path", "sha256"]), "provenance",
        "SHA-256 checksums identify the exact files analysed (sha256sum FILE reproduces them)."))
    sw = results.get("software") or {}
    rows = [{"software": "socap", "version": sw.get("socap")},
            {"software": "Python", "version": sw.get("python")}]
    rows += [{"software": k, "version": v} for k, v in (sw.get("packages") or {}).items()]
    out.append(ReportTable("software", "Software versions", pd.DataFrame(rows), "provenance"))
