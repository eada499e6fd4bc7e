"""The naive-Python baseline of benchmarks/bench_scale.py: the usual libraries called as their
documentation shows, on the study folder socap runs on.

    python benchmarks/bench_scale_naive.py STUDY SPEC.json [--site DIR]

SPEC.json is the one bench_scale.py writes for the R baseline (survey file, constructs and items,
reverse-keyed items, missing codes, scale, unit/cluster columns, the catalytic formula). Prints
one JSON line of stage times (seconds). ``--site DIR`` is appended to ``sys.path`` (the
benchmark's private folder holding matplotlib, which pingouin imports and this venv lacks).

Steps, each as a naive user writes them:

- read   ``pandas.read_csv(low_memory=False)`` (or ``read_parquet``)
- clean  missing codes -> NaN, ``pd.to_numeric``, reverse keying, unfinished/preview dropped
- alpha  ``pingouin.cronbach_alpha`` per construct
- kmo    factor_analyzer ``calculate_kmo`` and ``calculate_bartlett_sphericity`` (both fail on
         missing values, so on ``dropna()``, as a user does after the error)
- efa    ``FactorAnalyzer(n_factors=<constructs>, method="ml", rotation="oblimin")``
- cfa    semopy ``Model`` (one factor per construct plus the second-order factor) on the
         complete rows, ``semopy.calc_stats``
- icc    ICC(1) and ICC(2) of each construct's mean score from ``pingouin.anova`` (one-way
         ANOVA between units; pingouin's ``intraclass_corr`` needs balanced groups)
- model  unit means joined to the unit table, degree from the tie list, statsmodels GLM Poisson
         with cluster-robust SEs (``cov_type="cluster"``)
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

T0 = time.perf_counter()


def main() -> None:
    study = Path(sys.argv[1])
    spec = json.loads(Path(sys.argv[2]).read_text())
    if "--site" in sys.argv:
        sys.path.append(sys.argv[sys.argv.index("--site") + 1])
    warnings.simplefilter("ignore")
    times = {}
    t = [time.perf_counter()]

    def lap(name):
        now = time.perf_counter()
        times[name] = round(now - t[0], 3)
        t[0] = now

    import numpy as np
    import pandas as pd

    path = study / spec["survey"]
    constructs = spec["constructs"]
    items = [i for c in constructs.values() for i in c]
    codes = spec["missing"] + [float(c) for c in spec["missing"] if c.lstrip("-").isdigit()]
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, low_memory=False, na_values={it: spec["missing"] for it in items})
    lap("read")

    for it in items:
        if df[it].dtype == object:
            df[it] = df[it].replace(codes, np.nan)
        df[it] = pd.to_numeric(df[it], errors="coerce")
    for it in spec["reverse"]:
        df[it] = spec["min"] + spec["max"] - df[it]
    if "Finished" in df:
        df = df[df["Finished"].astype(str).isin(["True", "TRUE", "1"])]
    if "Status" in df:
        df = df[~df["Status"].isin(["Survey Preview", "Spam"])]
    x = df[items]
    lap("clean")

    import pingouin as pg

    alphas = {c: pg.cronbach_alpha(data=x[its])[0] for c, its in constructs.items()}
    lap("alpha")

    from factor_analyzer import FactorAnalyzer
    from factor_analyzer.factor_analyzer import calculate_bartlett_sphericity, calculate_kmo

    complete = x.dropna()
    _, kmo = calculate_kmo(complete)
    chi2, p = calculate_bartlett_sphericity(complete)
    lap("kmo")

    fa = FactorAnalyzer(n_factors=len(constructs), method="ml", rotation="oblimin")
    fa.fit(x)
    lap("efa")

    import semopy

    desc = "\n".join(f"{c} =~ {' + '.join(its)}" for c, its in constructs.items())
    desc += f"\n{spec['higher_name']} =~ {' + '.join(constructs)}"
    model = semopy.Model(desc)
    model.fit(complete)
    stats = semopy.calc_stats(model)
    lap("cfa")

    scores = pd.DataFrame({c: x[its].mean(axis=1) for c, its in constructs.items()})
    scores["unit"] = df[spec["unit"]].to_numpy()
    icc = {}
    for c in constructs:
        aov = pg.anova(data=scores, dv=c, between="unit", detailed=True)
        msb, msw = aov.loc[0, "MS"], aov.loc[1, "MS"]
        k = scores.groupby("unit")[c].count().mean()
        icc[c] = ((msb - msw) / (msb + (k - 1) * msw), (msb - msw) / msb)
    lap("icc")

    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    scores["social_capital"] = scores[list(constructs)].mean(axis=1)
    unit_sc = scores.groupby("unit")["social_capital"].mean()
    firms = pd.read_csv(study / spec["units_file"], dtype={spec["unit_id"]: str})
    ties = pd.read_csv(study / spec["ties_file"], dtype=str)
    ends = pd.concat([ties[["source", "target"]].set_axis(["a", "b"], axis=1),
                      ties[["target", "source"]].set_axis(["a", "b"], axis=1)]).drop_duplicates()
    degree = ends[ends["a"] != ends["b"]].groupby("a").size()
    firms["social_capital"] = firms[spec["unit_id"]].map(unit_sc)
    firms["degree"] = firms[spec["unit_id"]].map(degree).fillna(0)
    firms = firms.dropna(subset=["social_capital"])
    for col in ("degree", "social_capital"):
        firms[col] = (firms[col] - firms[col].mean()) / firms[col].std()
    codes_cluster = pd.factorize(firms[spec["cluster"]])[0]
    fit = smf.glm(spec["formula"], data=firms, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": codes_cluster})
    lap("model")
    print(json.dumps({"times": times, "n": int(len(x)), "alpha": list(alphas.values()),
                      "kmo": float(kmo), "cfi": float(stats.loc["Value", "CFI"]),
                      "interaction": float(fit.params[[k for k in fit.params.index if ":" in k][0]])}))


if __name__ == "__main__":
    main()
