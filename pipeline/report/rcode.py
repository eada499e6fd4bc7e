"""R code a reviewer runs to check the run: the lavaan model syntax and reports/reproduce.R.

``reproduce.R`` reads the run's processed data (the csv copies in ``reports/reproduce/``:
the rows and columns of ``data/processed/responses.parquet`` and ``units.parquet`` that the
script needs -- unit and group ids, items, scores, the models' columns; no respondent ids or
free text) and recomputes, with the R packages socap is tested against, the key numbers of
the report: Cronbach's alpha (``psych::alpha``), the EFA (``psych::fa``), the CFA
(``lavaan::cfa`` with the estimator and missing-data treatment the run used; for ML with
listwise deletion also its largest residual correlation and modification index), the
invariance levels (``lavaan::cfa(group =, group.equal =, group.partial =)`` on the model the run
tested, the partial and second-order scalar models included), ICC(1)/ICC(2)
(``multilevel::ICC1``/``ICC2``) and each model (``glm``/``lm`` with the SEs the run used:
``sandwich::vcovCL``/``vcovHC`` or ``clubSandwich::vcovCR``). Each number is printed beside
the report's value with the difference and the tolerance socap's tests hold it to.

csv rather than parquet because R reads csv with no extra package; where the arrow package is
installed, ``arrow::read_parquet("data/processed/responses.parquet")`` reads the same rows.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

#: tolerances of socap's tests against R (DEVELOPERS.md), by kind of number
TOLERANCE = {"alpha": 1e-3, "fit": 2e-3, "loading": 1e-2, "estimate": 1e-4, "se": 1e-3,
             "icc": 1e-3, "df": 1e-3}


def r_string(text) -> str:
    """``text`` as an R string literal (double quotes, backslashes and quotes escaped, control
    characters dropped)."""
    s = "".join(ch for ch in str(text) if ch >= " " or ch == "\t")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _r_number(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "NA"
    return repr(float(v))


def _comment(text) -> str:
    return re.sub(r"[\r\n]+", " ", str(text))


def lavaan_syntax(cfa: dict) -> str:
    """The lavaan model syntax of the CFA the run fitted (first-order factors by their items in
    the run's order, then second-order factors by their constructs)."""
    lines = []
    for c, items in (cfa.get("loadings") or {}).items():
        if items:
            lines.append(f"{c} =~ " + " + ".join(items))
    for h, parts in (cfa.get("higher_order") or {}).items():
        if parts:
            lines.append(f"{h} =~ " + " + ".join(parts))
    return "\n".join(lines)


def _model_columns(m: dict, spec: dict, columns) -> list[str]:
    names = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", m.get("formula") or ""))
    for key in ("cluster", "random", "weight"):
        if spec.get(key):
            names.add(spec[key])
    return [c for c in columns if c in names]


def companion_frames(results: dict, artefacts: dict) -> dict[str, pd.DataFrame]:
    """The csv companions reproduce.R reads: ``responses`` (unit, group, items, scores) and
    ``units`` (the unit id and every column a unit-level model uses)."""
    out: dict[str, pd.DataFrame] = {}
    resp = artefacts.get("responses")
    cfg = results.get("config") or {}
    survey = cfg.get("survey") or {}
    if isinstance(resp, pd.DataFrame):
        items = [i for i in (results.get("items") or {}) if i in resp.columns]
        scores = [c for c in ((results.get("scores") or {}).get("columns") or [])
                  if c in resp.columns]
        inv_group = (results.get("invariance") or {}).get("group")
        ids = [c for c in (survey.get("unit"), survey.get("group"), inv_group)
               if c and c in resp.columns]
        respondent_models = [c for name, m in (results.get("models") or {}).items()
                             if m.get("level") == "respondent"
                             for c in _model_columns(m, _spec(cfg, name), resp.columns)]
        se = str((results.get("cfa") or {}).get("se") or "")
        cfa_cluster = [se.split(":", 1)[1]] if se.startswith("cluster:") and \
            se.split(":", 1)[1] in resp.columns else []
        cols = list(dict.fromkeys(ids + items + scores + respondent_models + cfa_cluster))
        out["responses"] = resp[cols]
    units = artefacts.get("units")
    if isinstance(units, pd.DataFrame):
        frame = units.reset_index() if units.index.name and units.index.name not in \
            units.columns else units
        uid = (cfg.get("units") or {}).get("id") or survey.get("unit")
        cols = [c for c in (uid,) if c and c in frame.columns]
        for name, m in (results.get("models") or {}).items():
            if m.get("level") == "unit":
                cols += _model_columns(m, _spec(cfg, name), frame.columns)
        out["units"] = frame[list(dict.fromkeys(cols))]
    return out


def _spec(cfg: dict, name: str) -> dict:
    return next((x for x in ((cfg.get("analysis") or {}).get("models") or [])
                 if x.get("name") == name), {})


#: tables longer than this get no csv copy: reproduce.R reads data/processed/*.parquet with the
#: R package arrow instead (a 10^6-row copy is ~200 MB and seconds of formatting per run)
COMPANION_MAX_ROWS = 200_000


def write_companions(results: dict, artefacts: dict, folder: Path) -> list[Path]:
    """Write the csv companions into ``folder`` (created) for the tables of at most
    :data:`COMPANION_MAX_ROWS` rows; returns their paths."""
    frames = {name: f for name, f in companion_frames(results, artefacts).items()
              if len(f) <= COMPANION_MAX_ROWS}
    paths = []
    if not frames:
        return paths
    from pipeline.csvtext import write_csv  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        path = folder / f"{name}.csv"
        # arrow's writer: shortest round-trip decimals (read back exactly), ~10x faster than
        # DataFrame.to_csv(float_format="%.17g") -- it matters at 10^6 respondents; text that
        # a spreadsheet would run as a formula gets a leading ' (read_table below removes it)
        write_csv(frame, path, null_string="NA")
        paths.append(path)
    return paths


#: reproduce.R's reader: the csv copy (text cells that csvtext neutralised against formula
#: injection get their leading ' removed, then the column is typed as read.csv types it), or
#: the parquet file for tables without a copy
R_READ_TABLE = [
    "unquote <- function(d) {  # socap wrote text starting with = + - @ tab CR as '...",
    "  for (k in seq_along(d)) if (is.character(d[[k]])) {",
    "    x <- d[[k]]",
    "    hit <- !is.na(x) & grepl(\"^'+[-=+@\\t\\r]\", x)",
    "    if (any(hit)) {",
    "      x[hit] <- substring(x[hit], 2)",
    "      d[[k]] <- type.convert(x, as.is = TRUE, na.strings = character())",
    "    }",
    "  }",
    "  d",
    "}",
    "read_table <- function(name) {  # the csv copy; large studies have none: the parquet",
    "  csv <- here(paste0(name, '.csv'))",
    "  if (file.exists(csv)) return(unquote(read.csv(csv, check.names = FALSE,",
    "                                               stringsAsFactors = FALSE)))",
    "  as.data.frame(arrow::read_parquet(file.path('data', 'processed', paste0(name, '.parquet'))))",
    "}",
]


def reproduce_r(results: dict) -> str:
    """The text of reports/reproduce.R for this run (see the module docstring)."""
    cfg = results.get("config") or {}
    survey = cfg.get("survey") or {}
    sw = results.get("software") or {}
    out = [
        "# reproduce.R -- recompute the key numbers of this socap run in R.",
        f"# Study: {_comment((results.get('study') or {}).get('title'))}",
        f"# Written by socap {sw.get('socap')}; run started {(results.get('run') or {}).get('started')}.",
        "# Run it from the study folder:  Rscript reports/reproduce.R",
        "# It reads reports/reproduce/responses.csv and units.csv: the rows and columns of",
        "# data/processed/responses.parquet and units.parquet that it needs. Tables of more than",
        f"# {COMPANION_MAX_ROWS:,} rows have no csv copy: it reads the parquet file with the arrow",
        "# package (install.packages('arrow')). Packages: psych, lavaan, multilevel, sandwich,",
        "# lmtest (clubSandwich for CR2 standard errors).",
        "# Each line printed: the quantity, R's value, the report's value, their difference and",
        "# the tolerance socap's test suite holds it to; 'differs' marks a difference beyond it.",
        "",
        "options(width = 200)",
        "suppressPackageStartupMessages({",
        "  library(psych); library(lavaan); library(multilevel); library(sandwich); library(lmtest)",
        "})",
        "here <- function(...) file.path('reports', 'reproduce', ...)",
        *R_READ_TABLE,
        "responses <- read_table('responses')",
        "checks <- data.frame(quantity = character(), R = numeric(), report = numeric(),",
        "                     tolerance = numeric())",
        "check <- function(quantity, r, report, tolerance) {",
        "  checks[nrow(checks) + 1, ] <<- list(quantity, r, report, tolerance)",
        "}",
        "",
    ]
    rel = results.get("reliability") or {}
    if rel:
        out.append("# ---- reliability: Cronbach's alpha on pairwise-complete data (psych::alpha)")
        for c, r in rel.items():
            items = list((r.get("items") or {}).keys())
            if len(items) < 2:
                continue
            out.append(f"a <- psych::alpha(responses[, c({', '.join(r_string(i) for i in items)})],"
                       " check.keys = FALSE, warnings = FALSE)")
            out.append(f"check({r_string('alpha ' + c)}, a$total$raw_alpha, "
                       f"{_r_number(r.get('alpha'))}, {TOLERANCE['alpha']})")
        out.append("")
    efa = results.get("efa") or {}
    if efa.get("loadings"):
        items = list(efa["loadings"].keys())
        rot = efa.get("rotation") or "oblimin"
        out += ["# ---- EFA: psych::fa on the pairwise-complete correlations",
                f"efa_items <- c({', '.join(r_string(i) for i in items)})",
                f"fa_fit <- psych::fa(responses[, efa_items], nfactors = {int(efa.get('n_factors') or 1)}, "
                f"fm = {r_string(efa.get('method') or 'ml')}, rotate = {r_string(rot)})",
                f"check('EFA TLI', fa_fit$TLI, {_r_number((efa.get('fit') or {}).get('tli'))}, "
                f"{TOLERANCE['fit']})",
                ""]
        if (efa.get("bartlett") or {}).get("chi2") is not None:
            out += [f"b <- psych::cortest.bartlett(cor(responses[, efa_items], use = 'pairwise'), "
                    f"n = {int(efa.get('n') or 0)})",
                    f"check('Bartlett chi-square', b$chisq, {_r_number(efa['bartlett']['chi2'])}, "
                    "1e-6 * max(1, abs(b$chisq)))", ""]
    cfa = results.get("cfa") or {}
    if cfa.get("loadings"):
        est = cfa.get("estimator") or "ML"
        missing = {"fiml": "ml"}.get(cfa.get("missing") or "listwise", "listwise")
        items = [i for its in cfa["loadings"].values() for i in its]
        extra = ""
        if est == "WLSMV":
            extra = ", ordered = cfa_items"
        se = cfa.get("se")
        if se and se.startswith("cluster:"):
            extra += f", cluster = {r_string(se.split(':', 1)[1])}"
        fit = dict(cfa.get("fit") or {})
        keys = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr"]
        # MLR: the scaled test and the robust indices under lavaan's fitMeasures() names
        for ours, theirs in (("chisq_scaled", "chisq.scaled"),
                             ("scaling_factor", "chisq.scaling.factor"),
                             ("cfi_robust", "cfi.robust"), ("tli_robust", "tli.robust"),
                             ("rmsea_robust", "rmsea.robust")):
            if fit.get(ours) is not None:
                fit[theirs] = fit[ours]
                keys.append(theirs)
        out += ["# ---- CFA: lavaan::cfa with the estimator and missing-data treatment of the run",
                "model <- '",
                lavaan_syntax(cfa),
                "'",
                f"cfa_items <- c({', '.join(r_string(i) for i in items)})",
                f"cfa_fit <- lavaan::cfa(model, data = responses[, c(cfa_items"
                + (f", {r_string(se.split(':', 1)[1])}" if se and se.startswith("cluster:") else "")
                + f")], estimator = {r_string(est)}, missing = {r_string(missing)}{extra})",
                f"fm <- lavaan::fitMeasures(cfa_fit, c({', '.join(r_string(k) for k in keys)}))"]
        for k in keys:
            if fit.get(k) is not None:
                tol = 1e-6 if k == "df" else TOLERANCE["fit"] * (
                    max(1.0, abs(fit[k])) if k in ("chisq", "chisq.scaled") else 1.0)
                out.append(f"check({r_string('CFA ' + k)}, fm[[{r_string(k)}]], "
                           f"{_r_number(fit[k])}, {tol!r})")
        out.append("pe <- lavaan::standardizedSolution(cfa_fit)")
        for c, its in cfa["loadings"].items():
            for item, v in list(its.items())[1:2]:  # one free loading per factor
                out.append(f"check({r_string(f'CFA std loading {c} =~ {item}')}, "
                           f"pe$est.std[pe$lhs == {r_string(c)} & pe$op == '=~' & "
                           f"pe$rhs == {r_string(item)}], {_r_number(v.get('std'))}, "
                           f"{TOLERANCE['loading']})")
        pe_se = "lavaan::parameterEstimates(cfa_fit)"
        for c, its in list(cfa["loadings"].items())[:1]:
            for item, v in list(its.items())[1:2]:   # the SE type of the run (robust, cluster)
                if v.get("se") is not None:
                    out.append(f"pse <- {pe_se}")
                    out.append(f"check({r_string(f'CFA SE {c} =~ {item}')}, "
                               f"pse$se[pse$lhs == {r_string(c)} & pse$op == '=~' & "
                               f"pse$rhs == {r_string(item)}], {_r_number(v.get('se'))}, "
                               f"{TOLERANCE['loading']})")
        if est == "ML" and missing == "listwise":
            out += _local_fit_code(cfa)
        out.append("")
    out += _invariance_code(results.get("invariance") or {})
    agg = results.get("aggregation") or {}
    unit = survey.get("unit")
    if agg and unit:
        out.append(f"# ---- aggregation: ICC(1), ICC(2) from a one-way ANOVA by {_comment(unit)}"
                   " (multilevel)")
        for c, v in agg.items():
            if not isinstance(v, dict) or "icc1" not in v or v.get("icc1") is None:
                continue
            out += [f"d <- responses[!is.na(responses[[{r_string(c)}]]) & "
                    f"!is.na(responses[[{r_string(unit)}]]), ]",
                    f"fit_aov <- aov(d[[{r_string(c)}]] ~ as.factor(d[[{r_string(unit)}]]))",
                    f"check({r_string('ICC(1) ' + c)}, multilevel::ICC1(fit_aov), "
                    f"{_r_number(v['icc1'])}, {TOLERANCE['icc']})",
                    f"check({r_string('ICC(2) ' + c)}, multilevel::ICC2(fit_aov), "
                    f"{_r_number(v.get('icc2'))}, {TOLERANCE['icc']})"]
        out.append("")
    models = results.get("models") or {}
    if models:
        if any(m.get("level") == "unit" for m in models.values()):
            out.append("units <- read_table('units')")
        for name, m in models.items():
            out += _model_code(name, m, _spec(cfg, name))
    out += ["# ---- the comparison",
            "checks$difference <- checks$R - checks$report",
            "checks$verdict <- ifelse(is.na(checks$difference), 'not computed',",
            "                         ifelse(abs(checks$difference) <= checks$tolerance, 'ok', 'differs'))",
            "shown <- checks",
            "for (k in c('R', 'report', 'difference')) shown[[k]] <- signif(shown[[k]], 7)",
            "print(shown, row.names = FALSE)",
            "cat(sprintf('%d of %d numbers within tolerance\\n', sum(checks$verdict == 'ok'), nrow(checks)))",
            "invisible(checks)", ""]
    return "\n".join(out)


def _local_fit_code(cfa: dict) -> list[str]:
    """Checks of the CFA's local fit: the largest residual correlation and the largest MI."""
    out = []
    top = (cfa.get("largest_residuals") or [None])[0]
    if top and top.get("residual") is not None:
        a, b = r_string(top["lhs"]), r_string(top["rhs"])
        label = r_string(f"CFA residual correlation {top['lhs']} ~~ {top['rhs']}")
        out += ["rc <- lavaan::residuals(cfa_fit, type = 'cor')$cov",
                f"check({label}, rc[{a}, {b}], {_r_number(top['residual'])}, 1e-3)"]
    mi = (cfa.get("modification_indices") or [None])[0]
    if mi and mi.get("mi") is not None:
        lhs, op, rhs = (r_string(mi[k]) for k in ("lhs", "op", "rhs"))
        label = r_string(f"CFA largest MI {mi['lhs']} {mi['op']} {mi['rhs']}")
        out += ["mi <- lavaan::modindices(cfa_fit, sort. = TRUE)",
                f"k <- which(mi$op == {op} & ((mi$lhs == {lhs} & mi$rhs == {rhs}) | "
                f"(mi$op == '~~' & mi$lhs == {rhs} & mi$rhs == {lhs})))",
                f"check({label}, mi$mi[k[1]], {_r_number(mi['mi'])}, "
                f"1e-3 * max(1, abs(mi$mi[k[1]])))"]
    return out


def _invariance_syntax(constructs: dict, higher: dict, n_groups: int, means: str = "") -> str:
    """lavaan syntax of the invariance model; ``means``: "" (configural, metric), "scalar" (the
    second-order means fixed at 0) or "second" (the constructs' intercepts at 0, the
    second-order means free)."""
    lines = [f"{c} =~ " + " + ".join(items) for c, items in constructs.items() if items]
    lines += [f"{h} =~ " + " + ".join(parts) for h, parts in higher.items() if parts]
    zeros = "c(" + ", ".join(["0"] * n_groups) + ")"
    free = "c(" + ", ".join(["0"] + ["NA"] * (n_groups - 1)) + ")"
    if means == "scalar":
        lines += [f"{h} ~ {zeros}*1" for h in higher]
    elif means == "second":
        lines += [f"{c} ~ {zeros}*1" for parts in higher.values() for c in parts]
        lines += [f"{h} ~ {free}*1" for h in higher]
    return "\n".join(lines)


def _invariance_code(inv: dict) -> list[str]:
    """The invariance levels the report shows, refitted with lavaan::cfa(group =, group.equal =,
    group.partial =) on the same listwise-complete rows of the same groups."""
    cons = inv.get("constructs") or {}
    groups = inv.get("groups") or []
    group = inv.get("group")
    if not cons or len(groups) < 2 or not group or not inv.get("configural"):
        return []
    higher = inv.get("higher_order") or {}
    items = [i for its in cons.values() for i in its]
    G = len(groups)
    out = ["# ---- measurement invariance: lavaan::cfa(group =, group.equal =, group.partial =) on "
           f"the {_comment(inv.get('model') or 'first-order')} model",
           f"inv_items <- c({', '.join(r_string(i) for i in items)})",
           f"inv_data <- responses[, c(inv_items, {r_string(group)})]",
           "inv_data <- inv_data[complete.cases(inv_data) & as.character(inv_data[["
           f"{r_string(group)}]]) %in% c({', '.join(r_string(g) for g in groups)}), ]"]
    variants = {"": _invariance_syntax(cons, higher, G),
                "scalar": _invariance_syntax(cons, higher, G, "scalar"),
                "second": _invariance_syntax(cons, higher, G, "second")}
    for key, name in (("", "inv_model"), ("scalar", "inv_model_scalar"),
                      ("second", "inv_model_second")):
        if key == "second" and not inv.get("second_order_scalar"):
            continue
        out += [f"{name} <- '", variants[key], "'"]
    if inv.get("estimator") == "WLSMV":
        return out[:4] + _ordinal_invariance_code(inv, cons, group)
    partial = inv.get("partial") or {}
    fits = [("configural", inv.get("configural"), "inv_model", None),
            ("metric", inv.get("metric"), "inv_model", '"loadings"'),
            ("scalar", inv.get("scalar"), "inv_model_scalar", 'c("loadings", "intercepts")'),
            ("partial metric", partial.get("metric"), "inv_model", '"loadings"'),
            ("partial scalar", partial.get("scalar"), "inv_model_scalar",
             'c("loadings", "intercepts")'),
            ("second-order scalar", inv.get("second_order_scalar"), "inv_model_second",
             'c("loadings", "intercepts")')]
    keys = ["chisq", "df", "cfi", "rmsea"]
    for name, lv, model, equal in fits:
        if not lv or lv.get("chisq") is None:
            continue
        args = f"{model}, data = inv_data, group = {r_string(group)}"
        if equal:
            args += f", group.equal = {equal}"
        if lv.get("freed"):
            args += f", group.partial = c({', '.join(r_string(f) for f in lv['freed'])})"
        out += [f"f <- lavaan::cfa({args})",
                f"fm <- lavaan::fitMeasures(f, c({', '.join(r_string(k) for k in keys)}))"]
        for k in keys:
            if lv.get(k) is None:
                continue
            tol = 1e-6 if k == "df" else TOLERANCE["fit"] * (max(1.0, abs(lv[k]))
                                                             if k == "chisq" else 1.0)
            out.append(f"check({r_string(f'invariance {name} {k}')}, fm[[{r_string(k)}]], "
                       f"{_r_number(lv[k])}, {tol!r})")
    out.append("")
    return out


def _ordinal_invariance_code(inv: dict, cons: dict, group: str) -> list[str]:
    """The WLSMV levels (ordered items, Wu & Estabrook 2016) with semTools::measEq.syntax and
    the Satorra (2000) difference tests with lavaan::lavTestLRT."""
    out = ["# ordered items: WLSMV with Wu & Estabrook (2016) identification (semTools)"]
    for item, merged in (inv.get("collapsed") or {}).items():
        for m in merged:    # the categories socap merged (a group never used them)
            out.append(f"inv_data[[{r_string(item)}]][inv_data[[{r_string(item)}]] == "
                       f"{_r_number(m.get('value'))}] <- {_r_number(m.get('merged_with'))}")
    out += ["inv_model <- '",
            "\n".join(f"{c} =~ " + " + ".join(items) for c, items in cons.items() if items),
            "'",
            "inv_fit <- list()"]
    equal = {"configural": '""', "thresholds": '"thresholds"',
             "metric": 'c("thresholds", "loadings")',
             "scalar": 'c("thresholds", "loadings", "intercepts")'}
    keys = ["chisq", "df", "chisq.scaled", "cfi.scaled", "rmsea.scaled"]
    prev = None
    for name, ge in equal.items():
        lv = inv.get(name)
        if not lv or lv.get("chisq") is None:
            break
        out += [f"syn <- semTools::measEq.syntax(inv_model, data = inv_data, ordered = inv_items, "
                f"group = {r_string(group)}, ID.fac = \"std.lv\", ID.cat = "
                f"\"Wu.Estabrook.2016\", parameterization = \"delta\", group.equal = {ge})",
                f"inv_fit[[{r_string(name)}]] <- lavaan::cfa(as.character(syn), data = inv_data, "
                f"ordered = inv_items, group = {r_string(group)}, estimator = \"WLSMV\", "
                "parameterization = \"delta\")",
                f"fm <- lavaan::fitMeasures(inv_fit[[{r_string(name)}]], "
                f"c({', '.join(r_string(k) for k in keys)}))"]
        for k in keys:
            v = lv.get(k.replace(".", "_"))
            if v is None:
                continue
            tol = 1e-6 if k == "df" else TOLERANCE["fit"] * (max(1.0, abs(v))
                                                             if k.startswith("chisq") else 1.0)
            out.append(f"check({r_string(f'invariance {name} {k}')}, fm[[{r_string(k)}]], "
                       f"{_r_number(v)}, {tol!r})")
        if prev is not None and lv.get("chisq_diff") is not None:
            out += [f"lrt <- lavaan::lavTestLRT(inv_fit[[{r_string(prev)}]], "
                    f"inv_fit[[{r_string(name)}]], method = \"satorra.2000\")",
                    f"check({r_string(f'invariance {name} chisq_diff')}, "
                    f"lrt[[\"Chisq diff\"]][2], {_r_number(lv['chisq_diff'])}, "
                    f"{TOLERANCE['fit'] * max(1.0, abs(lv['chisq_diff']))!r})"]
        prev = name
    out.append("")
    return out


def _model_code(name: str, m: dict, spec: dict) -> list[str]:
    family = m.get("family")
    if m.get("random") or family not in ("gaussian", "poisson", "logit", "negbin"):
        return [f"# model {_comment(name)}: {family} with a random intercept -- refit with lme4 "
                "(not scripted here)", ""]
    data = "units" if m.get("level") == "unit" else "responses"
    formula = m.get("formula") or ""
    lines = [f"# ---- model {_comment(name)}: {_comment(formula)}",
             f"d <- {data}"]
    for v in spec.get("standardize") or []:
        lines.append(f"d[[{r_string(v)}]] <- as.numeric(scale(d[[{r_string(v)}]]))")
    for v in spec.get("center") or []:
        lines.append(f"d[[{r_string(v)}]] <- d[[{r_string(v)}]] - mean(d[[{r_string(v)}]], na.rm = TRUE)")
    call = {"gaussian": "lm({f}, data = d{w})",
            "poisson": "glm({f}, family = poisson, data = d{w})",
            "logit": "glm({f}, family = binomial, data = d{w})",
            "negbin": "MASS::glm.nb({f}, data = d{w})"}[family]
    w = f", weights = d[[{r_string(spec['weight'])}]]" if spec.get("weight") else ""
    lines.append("fit <- " + call.format(f=f"as.formula({r_string(formula)})", w=w))
    se = m.get("se_type") or "classical"
    cluster = spec.get("cluster")
    if se in ("cluster", "CR1") and cluster:
        lines.append(f"V <- sandwich::vcovCL(fit, cluster = d[[{r_string(cluster)}]], type = 'HC1')")
    elif se == "CR2" and cluster:
        lines.append(f"V <- clubSandwich::vcovCR(fit, cluster = d[[{r_string(cluster)}]], type = 'CR2')")
    elif se in ("hc3", "HC3"):
        lines.append("V <- sandwich::vcovHC(fit, type = 'HC3')")
    else:
        lines.append("V <- vcov(fit)")
    lines.append("ct <- lmtest::coeftest(fit, vcov. = V)")
    for term, c in (m.get("coefficients") or {}).items():
        lines.append(f"check({r_string(f'{name}: {term} estimate')}, ct[{r_string(term)}, 1], "
                     f"{_r_number(c.get('estimate'))}, {TOLERANCE['estimate']})")
        lines.append(f"check({r_string(f'{name}: {term} SE')}, ct[{r_string(term)}, 2], "
                     f"{_r_number(c.get('se'))}, {TOLERANCE['se']})")
    if se == "CR2" and cluster and m.get("df_method") == "Satterthwaite":
        lines.append("cs <- clubSandwich::coef_test(fit, vcov = V, test = 'Satterthwaite')")
        for term, c in (m.get("coefficients") or {}).items():
            if c.get("df") is not None:
                lines.append(f"check({r_string(f'{name}: {term} Satterthwaite df')}, "
                             f"cs[{r_string(term)}, 'df_Satt'], {_r_number(c.get('df'))}, {TOLERANCE['df']})")
    lines.append("")
    return lines
