"""Every table of the report, built once from the results dictionary.

Each :class:`ReportTable` is rendered in report.html and written as one sheet of tables.xlsx, so
the two always agree with each other and with results.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

HU_BENTLER = {"cfi": (">=", 0.95), "tli": (">=", 0.95), "rmsea": ("<=", 0.06), "srmr": ("<=", 0.08)}


@dataclass(frozen=True)
class ReportTable:
    key: str  # sheet name / anchor (<= 31 characters)
    title: str
    frame: pd.DataFrame
    section: str
    note: str = ""
    decimals: dict = field(default_factory=dict)  # column -> decimals shown in HTML
    grey_below: dict = field(default_factory=dict)  # column -> |value| under which it is greyed


def report_tables(results: dict) -> list[ReportTable]:
    """All tables of the report, in report order."""
    out: list[ReportTable] = []
    add = out.append
    add(ReportTable("inputs", "Input files", pd.DataFrame(results.get("inputs", [])),
                    "provenance", "SHA-256 checksums identify the exact files analysed."))
    s = results["sample"]
    flow = [{"step": "Responses read", "n": s["rows_read"]}]
    from ..clean import RULE_LABELS  # noqa: PLC0415

    for rule, n in s.get("excluded_by_rule", {}).items():
        flow.append({"step": f"Excluded: {RULE_LABELS.get(rule, rule)}", "n": n})
    flow.append({"step": "Respondents kept", "n": s["respondents"]})
    if s.get("units") is not None:
        flow.append({"step": "Units (firms)", "n": s["units"]})
    if s.get("groups") is not None:
        flow.append({"step": "Groups (clusters)", "n": s["groups"]})
    add(ReportTable("sample_flow", "Sample flow", pd.DataFrame(flow), "sample",
                    "Each response is counted under the first rule that excluded it."))

    items = results.get("items", {})
    if items:
        reasons = sorted({r for v in items.values() for r in v.get("missing_by_reason", {})})
        rows = []
        for item, v in items.items():
            row = {"item": item, "construct": v["construct"], "missing": v["missing"]}
            row.update({f"missing: {r}": v["missing_by_reason"].get(r, 0) for r in reasons})
            row["answers recoded from text"] = v.get("from_text", 0)
            rows.append(row)
        add(ReportTable("missing", "Missing answers by item and reason", pd.DataFrame(rows),
                        "sample", "Among kept respondents: 'missing' counts missing values; the "
                        "reason columns count them in the whole export, by the code or text used."))
        desc = pd.DataFrame([{"item": i, "construct": v["construct"], "text": v["text"],
                              "reverse": "yes" if v["reverse"] else "", "n": v["n"],
                              "mean": v["mean"], "sd": v["sd"]} for i, v in items.items()])
        add(ReportTable("items", "Item descriptives", desc, "measurement",
                        "Codes after reverse keying (reverse items: min + max - x).",
                        decimals={"mean": 2, "sd": 2}))

    rel = results.get("reliability") or {}
    if rel:
        rows = []
        for c, r in rel.items():
            ci = r.get("alpha_ci") or [None, None]
            rows.append({"construct": c, "items": r.get("n_items"), "n": r.get("n"),
                         "alpha": r.get("alpha"), "alpha CI low": ci[0], "alpha CI high": ci[1],
                         "omega total": r.get("omega_total"), "average r": r.get("average_r"),
                         "flag": "alpha < .70" if (r.get("alpha") is not None and r["alpha"] < .7) else ""})
        add(ReportTable("reliability", "Reliability by construct", pd.DataFrame(rows),
                        "measurement", "Cronbach's alpha on pairwise-complete data with Feldt 95% "
                        "CI (as psych::alpha); McDonald's omega total from a one-factor model.",
                        decimals={c: 3 for c in ("alpha", "alpha CI low", "alpha CI high",
                                                  "omega total", "average r")}))
        rows = []
        for c, r in rel.items():
            for item, v in (r.get("items") or {}).items():
                rows.append({"construct": c, "item": item, "mean": v.get("mean"),
                             "sd": v.get("sd"), "missing share": v.get("missing"),
                             "item-rest r": v.get("r_drop"),
                             "alpha if deleted": v.get("alpha_if_deleted"),
                             "flag": "negative item-rest r" if (v.get("r_drop") is not None and v["r_drop"] < 0) else ""})
        add(ReportTable("reliability_items", "Item statistics", pd.DataFrame(rows), "measurement",
                        "Item-rest correlation = r.drop of psych::alpha.",
                        decimals={"mean": 3, "sd": 3, "missing share": 3, "item-rest r": 3,
                                  "alpha if deleted": 3}))

    efa = results.get("efa") or {}
    if efa:
        b = efa.get("bartlett") or {}
        sug = efa.get("suggested") or {}
        adequacy = pd.DataFrame([
            {"statistic": "KMO (overall)", "value": efa.get("kmo")},
            {"statistic": "Bartlett chi-square", "value": b.get("chi2")},
            {"statistic": "Bartlett df", "value": b.get("df")},
            {"statistic": "Bartlett p", "value": b.get("p")},
            *({"statistic": f"factors suggested: {k}", "value": v} for k, v in sug.items()),
            {"statistic": "factors extracted", "value": efa.get("n_factors")},
        ])
        add(ReportTable("adequacy", "Sampling adequacy and number of factors", adequacy, "efa",
                        efa.get("n_factors_reason", ""), decimals={"value": 3}))
        load = efa.get("loadings") or {}
        if load:
            frame = pd.DataFrame(load).T
            frame.index.name = "item"
            comm = efa.get("communalities") or {}
            frame["h2"] = [comm.get(i) for i in frame.index]
            frame = frame.reset_index()
            factors = [c for c in frame.columns if c not in ("item", "h2")]
            add(ReportTable("efa_loadings", f"EFA loadings ({efa.get('method')}, "
                            f"{efa.get('rotation')} rotation)", frame, "efa",
                            "Loadings below .30 are greyed; h2 = communality. Factors in order of "
                            "variance explained.", decimals={c: 2 for c in factors + ["h2"]},
                            grey_below={c: 0.30 for c in factors}))
        phi = efa.get("factor_correlations")
        if isinstance(phi, dict) and phi:
            f = pd.DataFrame(phi)
            f.index.name = "factor"
            add(ReportTable("efa_phi", "Factor correlations", f.reset_index(), "efa",
                            decimals={c: 2 for c in f.columns}))
        elif isinstance(phi, list) and phi:
            names = list((next(iter(load.values())) if load else {}).keys()) or [f"F{i + 1}" for i in range(len(phi))]
            f = pd.DataFrame(phi, columns=names, index=names)
            f.index.name = "factor"
            add(ReportTable("efa_phi", "Factor correlations", f.reset_index(), "efa",
                            decimals={c: 2 for c in names}))

    cfa = results.get("cfa") or {}
    if cfa:
        fit = cfa.get("fit") or {}
        rows = []
        for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
            if k not in fit:
                continue
            cut = HU_BENTLER.get(k)
            v = fit.get(k)
            ok = ""
            if cut and v is not None:
                ok = "meets" if (v >= cut[1] if cut[0] == ">=" else v <= cut[1]) else "misses"
            rows.append({"index": k.upper() if k not in ("pvalue",) else "p", "value": v,
                         "cutoff (Hu & Bentler 1999)": f"{cut[0]} {cut[1]}" if cut else "",
                         "verdict": ok})
        ci = fit.get("rmsea_ci")
        if ci and None not in ci:
            rows.insert(6, {"index": "RMSEA 90% CI", "value": None,
                            "cutoff (Hu & Bentler 1999)": f"[{ci[0]:.3f}, {ci[1]:.3f}]", "verdict": ""})
        add(ReportTable("cfa_fit", f"CFA fit ({cfa.get('estimator', 'ML')}, n = {cfa.get('n')})",
                        pd.DataFrame(rows), "cfa", "ML on listwise-complete data, as lavaan::cfa.",
                        decimals={"value": 3}))
        rows = []
        for c, its in (cfa.get("loadings") or {}).items():
            for item, v in its.items():
                rows.append({"construct": c, "item": item, "estimate": v.get("estimate"),
                             "se": v.get("se"), "std": v.get("std"), "std se": v.get("std_se")})
        for h, parts in (cfa.get("higher_order") or {}).items():
            for c, v in parts.items():
                rows.append({"construct": h, "item": c, "estimate": v.get("estimate"),
                             "se": v.get("se"), "std": v.get("std"), "std se": v.get("std_se")})
        if rows:
            add(ReportTable("cfa_loadings", "CFA loadings", pd.DataFrame(rows), "cfa",
                            "std = standardised (std.all); first loading of each factor fixed to 1.",
                            decimals={"estimate": 3, "se": 3, "std": 3, "std se": 3}))
        cr, ave = cfa.get("composite_reliability") or {}, cfa.get("ave") or {}
        if cr or ave:
            add(ReportTable("cfa_cr_ave", "Composite reliability and AVE",
                            pd.DataFrame([{"construct": c, "CR": cr.get(c), "AVE": ave.get(c)}
                                          for c in dict.fromkeys(list(cr) + list(ave))]), "cfa",
                            "CR >= .70 and AVE >= .50 are the usual benchmarks (Fornell & Larcker 1981).",
                            decimals={"CR": 3, "AVE": 3}))
        htmt = cfa.get("htmt")
        if isinstance(htmt, dict) and htmt:
            f = pd.DataFrame(htmt)
            f.index.name = "construct"
            add(ReportTable("htmt", "Heterotrait-monotrait ratios (HTMT)", f.reset_index(), "cfa",
                            "HTMT below .85 supports discriminant validity (Henseler et al. 2015).",
                            decimals={c: 3 for c in f.columns}))

    agg = results.get("aggregation") or {}
    if agg:
        rows = []
        for c, v in agg.items():
            if not isinstance(v, dict) or "icc1" not in v:
                continue
            rows.append({"construct": c, "ICC(1)": v.get("icc1"), "ICC(2)": v.get("icc2"),
                         "rwg(j) mean": v.get("rwg_j_mean"), "rwg(j) median": v.get("rwg_j_median"),
                         "share rwg(j) >= .70": v.get("rwg_j_share_70")})
        if rows:
            add(ReportTable("aggregation", "Aggregation to units", pd.DataFrame(rows), "levels",
                            "ICC(1), ICC(2) from one-way ANOVA (multilevel::ICC1/ICC2); rwg(j) "
                            "against the uniform null (multilevel::rwg.j).",
                            decimals={c: 3 for c in ("ICC(1)", "ICC(2)", "rwg(j) mean",
                                                      "rwg(j) median", "share rwg(j) >= .70")}))

    net = results.get("network") or {}
    if net:
        keys = [k for k, v in net.items() if isinstance(v, (int, float, str, bool)) and v is not None]
        add(ReportTable("network", "Network summary",
                        pd.DataFrame([{"measure": k, "value": net[k]} for k in keys]), "network",
                        decimals={"value": 3}))
        groups = net.get("groups") or {}
        if groups:
            f = pd.DataFrame(groups).T
            f.index.name = "group"
            add(ReportTable("network_groups", "Network by cluster", f.reset_index(), "network",
                            decimals={c: 3 for c in f.columns}))

    for name, m in (results.get("models") or {}).items():
        rows = []
        for term, c in (m.get("coefficients") or {}).items():
            rows.append({"term": term, "B": c.get("estimate"), "SE": c.get("se"),
                         "beta": c.get("beta"), "95% CI low": c.get("ci_low"),
                         "95% CI high": c.get("ci_high"),
                         ("t" if m.get("family") == "gaussian" else "z"): c.get("z_or_t"),
                         "p": c.get("p")})
        key = _sheet(f"model_{name}")
        add(ReportTable(key, f"Model '{name}': {m.get('formula')} ({m.get('family')}, "
                        f"{m.get('se_type', '')} SE, n = {m.get('n')})", pd.DataFrame(rows),
                        "models", decimals={c: 3 for c in ("B", "SE", "beta", "95% CI low",
                                                            "95% CI high", "t", "z")} | {"p": 4}))
        ss = m.get("simple_slopes") or []
        if ss:
            add(ReportTable(_sheet(f"slopes_{name}"), f"Simple slopes ('{name}')",
                            pd.DataFrame(ss), "models",
                            "Slope of the focal predictor at the moderator's mean - 1 SD, mean and "
                            "mean + 1 SD, on the linear-predictor scale.",
                            decimals={c: 3 for c in ("moderator_value", "slope", "se", "z_or_t",
                                                     "ci_low", "ci_high")} | {"p": 4}))
    warnings = results.get("warnings") or []
    add(ReportTable("warnings", "Warnings", pd.DataFrame(warnings, columns=["number", "stage", "message"]),
                    "warnings"))
    return out


def _sheet(name: str) -> str:
    bad = '[]:*?/\\'
    clean = "".join("_" if ch in bad else ch for ch in name)
    return clean[:31]
