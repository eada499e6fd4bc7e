"""Synthetic studies with known truth: the bundled example, the tests, power planning.

:func:`simulate_study` draws a complete regional study from a model whose parameters are all
recorded, and :func:`write_study` writes it as a study folder (survey export, unit table, tie
list, study.yaml, the default instrument, truth.json). Everything is vectorised, so national-size
studies (10^6 respondents, 10^6 firms) are generated in seconds.

The model
---------
Hierarchy: regions > clusters > firms > respondents (several per firm).

Measurement (second-order factor model, standardised continuous responses):
    eta_i   = u_cluster + u_firm + e_i                      var: tau_c + tau_f + (1 - tau_c - tau_f) = 1
    f_ki    = gamma_k * eta_i + sqrt(1 - gamma_k^2) * z_ki   first-order factor k, var 1
    y*_ji   = lambda_j * f_k(j)i + sqrt(1 - lambda_j^2) e_ji item j, var 1
    y_ji    = 1 + #(thresholds below y*_ji)                  5-point Likert code
Reverse-worded items are answered in reverse: the export holds ``min + max - y``.

Firm social capital -- the true value the outcome and the ties depend on -- is one of two
things (``SimulationSpec.truth``, recorded in truth.json as ``truth``):

- ``"sample"`` (default): the mean latent social capital (eta) of the firm's valid respondents
  (a composition model, Chan 1998). The pipeline's unit score estimates exactly that, so the
  only error is the items' measurement error, averaged over the firm's respondents.
- ``"latent"``: the firm's latent mean ``u_cluster + u_firm`` (the mean over all its potential
  respondents; Luedtke et al. 2008). The few respondents sampled are then a second source of
  error: within-firm sampling error, which shrinks only as respondents per firm grow.

Network: each firm has Poisson numbers of supplier/customer ties inside its cluster and across
clusters, with rates that grow with its social capital (exp(delta * z_sc)) -- high social capital
means more participation; ties to its cluster's service institution, its region's university and
government office occur with probabilities that also grow with social capital. Tie weights
(interaction frequency per year) are 1 + Poisson(mu_w * exp(0.3 z_sc)).

Outcome (the catalytic effect):
    new_products ~ Poisson(exp(b0 + b_degree z_degree + b_sc z_sc + b_cat z_degree z_sc
                               + b_size (log_employees - mean)))
with ``z_degree`` the standardised number of distinct partners in the simulated tie list and
``z_sc`` the standardised firm social capital (sample SDs over firms). ``truth.json`` records
every parameter; the bundled study's model (``standardize: [degree, social_capital]``) estimates
``b_degree``, ``b_sc`` and ``b_cat`` on exactly this scale.

Data problems injected, each counted in truth.json: missing answers (MCAR share, half of them as
"Don't know", some as -99), straight-liners (one answer on every item), speeders (duration far
below the median; random answers), incomplete responses (Finished = FALSE, answers cut off), and
personal-data columns (e-mail, IP address) that ingest must drop.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config.instrument import Instrument, default_instrument_path, read_instrument

TRUTHS = ("sample", "latent")  # what firm social capital is (see the module docstring)
THRESHOLDS = (-1.5, -0.5, 0.5, 1.5)  # 5 symmetric categories: no skew-induced nonlinearity


@dataclass(frozen=True)
class SimulationSpec:
    """Every parameter of a simulated study (all are written to truth.json)."""

    seed: int = 1
    regions: int = 3
    clusters_per_region: int = 4
    firms_per_cluster: int = 25
    respondents_per_firm: float = 5.0  # mean; each firm has 1 + Poisson(mean - 1)
    # measurement
    tau_cluster: float = 0.10  # share of latent social-capital variance between clusters
    tau_firm: float = 0.30  # share between firms within clusters
    second_order: dict = field(default_factory=lambda: {
        "coordination": 0.70, "cooperation": 0.75, "reciprocity": 0.65, "trust": 0.80})
    loading_range: tuple[float, float] = (0.60, 0.85)
    thresholds: tuple[float, ...] = THRESHOLDS
    # data problems
    missing_share: float = 0.02
    straightliners_share: float = 0.01
    speeders_share: float = 0.015
    incomplete_share: float = 0.02
    # network
    ties_within: float = 3.0  # mean supplier/customer ties started per firm inside its cluster
    ties_across: float = 0.8  # ... to firms of other clusters
    delta_sc_ties: float = 0.35  # log-rate increase of ties per SD of social capital
    p_service: float = 0.5
    p_university: float = 0.25
    p_government: float = 0.2
    weight_mean: float = 3.0
    # firms and outcome
    employees_log_mean: float = 3.2
    employees_log_sd: float = 1.0
    b0: float = 0.4
    b_degree: float = 0.30
    b_sc: float = 0.20
    b_cat: float = 0.15
    b_size: float = 0.25
    survey_format: str = "xlsx"  # xlsx | csv | parquet
    truth: str = "sample"  # firm social capital: "sample" (respondents' mean) | "latent" (firm mean)

    @property
    def clusters(self) -> int:
        return self.regions * self.clusters_per_region

    @property
    def firms(self) -> int:
        return self.clusters * self.firms_per_cluster


@dataclass(frozen=True)
class SimulatedStudy:
    spec: SimulationSpec
    survey: pd.DataFrame
    firms: pd.DataFrame
    ties: pd.DataFrame
    truth: dict
    latent: pd.DataFrame | None = None  # per firm: true social capital and degree (not written)


def _likert(ystar: np.ndarray, thresholds) -> np.ndarray:
    return (1 + (ystar[..., None] > np.asarray(thresholds)).sum(-1)).astype(np.int8)


def _category_correlation(lam: float, thresholds) -> float:
    """corr(Likert(y*), f) for y* = lam f + noise: lam * corr(Likert(y*), y*) (Stein's lemma)."""
    from scipy.special import ndtr  # noqa: PLC0415

    t = np.asarray(thresholds, float)
    phi = np.exp(-0.5 * t**2) / np.sqrt(2 * np.pi)
    cuts = np.concatenate([[-np.inf], t, [np.inf]])
    p = np.diff(ndtr(cuts))
    codes = np.arange(1, len(p) + 1)
    mean = (p * codes).sum()
    var = (p * (codes - mean) ** 2).sum()
    # cov(g(y*), y*) = E[g'(y*)] = sum of densities at the thresholds (unit steps)
    return float(lam * phi.sum() / np.sqrt(var))


@dataclass(frozen=True)
class StudyDraw:
    """The numbers of one simulated study before it is laid out as an export: what
    :func:`simulate_study` writes and what ``socap power`` fits in memory (pipeline/power.py).

    ``codes`` holds each respondent's item codes in the scored direction (reverse-keyed items
    as the cleaning recodes them), one row per valid respondent, without missing answers;
    ``answered`` the same as the respondent ticked them (reverse-keyed items reversed)."""

    spec: SimulationSpec
    items: list
    codes: np.ndarray
    answered: np.ndarray
    reverse: np.ndarray
    resp_firm: np.ndarray
    n_resp_firm: np.ndarray
    firm_cluster: np.ndarray
    cluster_region: np.ndarray
    firm_ids: np.ndarray
    cluster_names: np.ndarray
    region_names: np.ndarray
    constructs: dict
    gammas: np.ndarray
    loadings: dict
    sc_firm: np.ndarray
    z_sc: np.ndarray
    ties: pd.DataFrame | None
    degree: np.ndarray
    z_deg: np.ndarray
    eta_lin: np.ndarray
    firms: pd.DataFrame


OUTCOME_FAMILIES = ("poisson", "gaussian", "negbin", "logit")


def draw_study(spec: SimulationSpec, instrument: Instrument, rng: np.random.Generator, *,
               loadings: dict[str, float] | None = None, outcome: str = "poisson",
               outcome_sd: float = 1.0, theta: float = 2.0, ties_table: bool = True) -> StudyDraw:
    """Draw the latent social capital, the item codes, the network and the firms' outcome.

    Parameters
    ----------
    spec
        The study's parameters (``spec.seed`` is not used: ``rng`` is).
    instrument
        Its constructs and items are simulated; reverse-keyed items are answered reversed.
    rng
        The random stream (``simulate_study`` passes ``default_rng(spec.seed)``).
    loadings
        Optional loading per construct, overriding ``spec.loading_range`` for that construct's
        items (``socap power`` sets them from a target reliability); the stream of random
        draws is the same either way.
    outcome
        How ``new_products`` is drawn from the linear predictor ``eta``: ``poisson`` (the
        example study: Poisson(exp(eta))), ``gaussian`` (eta + N(0, outcome_sd^2)),
        ``negbin`` (NB2 with mean exp(eta) and size ``theta``) or ``logit``
        (Bernoulli(1 / (1 + exp(-eta)))).
    ties_table
        False: no tie list is laid out (``ties`` is None; the degrees are computed all the
        same, from the same draws).
    """
    if spec.truth not in TRUTHS:
        raise ValueError(f"truth must be one of {', '.join(TRUTHS)}, not {spec.truth!r}")
    if outcome not in OUTCOME_FAMILIES:
        raise ValueError(f"unknown outcome family {outcome!r}")
    # ---- hierarchy
    n_cl, n_f = spec.clusters, spec.firms
    cluster_region = np.repeat(np.arange(spec.regions), spec.clusters_per_region)
    firm_cluster = np.repeat(np.arange(n_cl), spec.firms_per_cluster)
    firm_ids = np.array([f"F{i + 1:0{max(4, len(str(n_f)))}d}" for i in range(n_f)])
    cluster_names = np.array([f"C{i + 1:02d}" for i in range(n_cl)])
    region_names = np.array([f"R{i + 1}" for i in range(spec.regions)])
    n_resp_firm = 1 + rng.poisson(max(spec.respondents_per_firm - 1, 0), n_f)
    resp_firm = np.repeat(np.arange(n_f), n_resp_firm)
    n = resp_firm.size

    # ---- latent social capital
    u_c = rng.normal(0, np.sqrt(spec.tau_cluster), n_cl)
    u_f = rng.normal(0, np.sqrt(spec.tau_firm), n_f)
    e = rng.normal(0, np.sqrt(1 - spec.tau_cluster - spec.tau_firm), n)
    eta = u_c[firm_cluster[resp_firm]] + u_f[resp_firm] + e

    constructs = instrument.construct_items()
    gammas = np.array([spec.second_order.get(c, 0.8) for c in constructs])
    lo, hi = spec.loading_range
    items: list[str] = []
    loading_values: dict[str, dict[str, float]] = {}
    columns = []
    for k, (c, ids) in enumerate(constructs.items()):
        f = gammas[k] * eta + np.sqrt(1 - gammas[k] ** 2) * rng.standard_normal(n)
        lam = np.round(rng.uniform(lo, hi, len(ids)), 3)
        if loadings and c in loadings:
            lam = np.full(len(ids), float(loadings[c]))
        loading_values[c] = dict(zip(ids, lam.tolist()))
        ystar = f[:, None] * lam + rng.standard_normal((n, len(ids))) * np.sqrt(1 - lam**2)
        columns.append(_likert(ystar, spec.thresholds))
        items.extend(ids)
    codes = np.concatenate(columns, axis=1).astype(float)
    scale = instrument.scale
    reverse = np.array([instrument.item(i).reverse for i in items])
    answered = codes.copy()
    answered[:, reverse] = scale.min + scale.max - answered[:, reverse]

    # ---- firm social capital: mean latent of the firm's (valid) respondents, or its latent mean
    if spec.truth == "latent":
        sc_firm = u_c[firm_cluster] + u_f
    else:
        sc_firm = np.bincount(resp_firm, weights=eta, minlength=n_f) / n_resp_firm
    z_sc = (sc_firm - sc_firm.mean()) / sc_firm.std(ddof=1)

    # ---- network
    ties, degree = _simulate_ties(spec, rng, firm_cluster, cluster_region, z_sc, firm_ids,
                                  cluster_names, region_names, table=ties_table)
    z_deg = (degree - degree.mean()) / degree.std(ddof=1)

    # ---- firms and outcome
    log_emp = rng.normal(spec.employees_log_mean, spec.employees_log_sd, n_f)
    employees = np.maximum(1, np.round(np.exp(log_emp))).astype(int)
    log_employees = np.log(employees)
    eta_lin = (spec.b0 + spec.b_degree * z_deg + spec.b_sc * z_sc + spec.b_cat * z_deg * z_sc
               + spec.b_size * (log_employees - log_employees.mean()))
    if outcome == "poisson":
        new_products = rng.poisson(np.exp(eta_lin))
    elif outcome == "gaussian":
        new_products = eta_lin + rng.normal(0.0, outcome_sd, n_f)
    elif outcome == "negbin":  # gamma-Poisson mixture: mean mu, variance mu + mu^2 / theta
        new_products = rng.poisson(np.exp(eta_lin) * rng.gamma(theta, 1.0 / theta, n_f))
    else:
        new_products = (rng.random(n_f) < 1.0 / (1.0 + np.exp(-eta_lin))).astype(int)
    firms = pd.DataFrame({
        "firm_id": firm_ids,
        "cluster": cluster_names[firm_cluster],
        "region": region_names[cluster_region[firm_cluster]],
        "employees": employees,
        "log_employees": np.round(log_employees, 6),
        "firm_age": rng.integers(1, 80, n_f),
        "new_products": new_products,
    })
    return StudyDraw(spec=spec, items=items, codes=codes, answered=answered, reverse=reverse,
                     resp_firm=resp_firm, n_resp_firm=n_resp_firm, firm_cluster=firm_cluster,
                     cluster_region=cluster_region, firm_ids=firm_ids,
                     cluster_names=cluster_names, region_names=region_names,
                     constructs=constructs, gammas=gammas, loadings=loading_values,
                     sc_firm=sc_firm, z_sc=z_sc, ties=ties, degree=degree, z_deg=z_deg,
                     eta_lin=eta_lin, firms=firms)


def simulate_study(spec: SimulationSpec | None = None, instrument: Instrument | None = None) -> SimulatedStudy:
    """Draw a complete study from :class:`SimulationSpec`.

    Returns
    -------
    SimulatedStudy
        The survey export (one row per response, codes as a survey tool writes them), the firm
        table, the tie list and the truth (every generating parameter and derived true value).
    """
    spec = spec or SimulationSpec()
    instrument = instrument or read_instrument(default_instrument_path())
    rng = np.random.default_rng(spec.seed)
    d = draw_study(spec, instrument, rng)
    n_cl, n_f = spec.clusters, spec.firms
    n = d.resp_firm.size
    items, answered, reverse, resp_firm = d.items, d.answered, d.reverse, d.resp_firm
    firm_ids, cluster_names, region_names = d.firm_ids, d.cluster_names, d.region_names
    firm_cluster, cluster_region = d.firm_cluster, d.cluster_region
    constructs, gammas, loadings, ties = d.constructs, d.gammas, d.loadings, d.ties
    degree, sc_firm, z_sc, z_deg, eta_lin = d.degree, d.sc_firm, d.z_sc, d.z_deg, d.eta_lin
    firms = d.firms
    scale = instrument.scale

    # ---- survey export: valid respondents
    survey_items = answered.copy()
    miss = rng.random(survey_items.shape) < spec.missing_share
    duration = np.round(rng.lognormal(np.log(600), 0.25, n)).astype(int)
    status = np.full(n, "IP Address", dtype=object)
    finished = np.ones(n, bool)
    kind = np.full(n, "valid", dtype=object)

    # ---- injected problem rows (extra respondents of random firms; excluded by quality rules)
    def extra(share: float) -> int:
        return int(rng.binomial(n, share)) if share > 0 else 0

    n_sl, n_sp, n_inc = extra(spec.straightliners_share), extra(spec.speeders_share), extra(spec.incomplete_share)
    n_extra = n_sl + n_sp + n_inc
    p = len(items)
    ex_items = rng.integers(int(scale.min), int(scale.max) + 1, (n_extra, p)).astype(float)
    ex_items[:n_sl] = rng.integers(int(scale.min), int(scale.max) + 1, n_sl)[:, None]
    ex_duration = np.round(rng.lognormal(np.log(600), 0.25, n_extra)).astype(int)
    ex_duration[n_sl:n_sl + n_sp] = rng.integers(25, 90, n_sp)
    ex_finished = np.ones(n_extra, bool)
    ex_finished[n_sl + n_sp:] = False
    ex_miss = np.zeros((n_extra, p), bool)
    if n_inc:
        cut = rng.integers(p // 4, (3 * p) // 4, n_inc)
        ex_miss[n_sl + n_sp:] = np.arange(p)[None, :] >= cut[:, None]
        ex_duration[n_sl + n_sp:] = ex_duration[n_sl + n_sp:] // 2
    ex_firm = rng.integers(0, n_f, n_extra)
    ex_kind = np.array(["straightliner"] * n_sl + ["speeder"] * n_sp + ["incomplete"] * n_inc,
                       dtype=object)

    all_items = np.concatenate([survey_items, ex_items])
    all_miss = np.concatenate([miss, ex_miss])
    all_firm = np.concatenate([resp_firm, ex_firm])
    order = rng.permutation(n + n_extra)  # responses arrive in random order
    all_items, all_miss, all_firm = all_items[order], all_miss[order], all_firm[order]
    all_duration = np.concatenate([duration, ex_duration])[order]
    all_finished = np.concatenate([finished, ex_finished])[order]
    all_kind = np.concatenate([kind, ex_kind])[order]
    all_status = np.concatenate([status, np.full(n_extra, "IP Address", dtype=object)])[order]

    # missing answers: mostly blank, some "Don't know", some -99 (refused)
    cells = all_items.astype(object)
    how = rng.random(all_miss.shape)
    cells[all_miss & (how < 0.6)] = None
    cells[all_miss & (how >= 0.6) & (how < 0.85)] = "Don't know"
    cells[all_miss & (how >= 0.85)] = -99
    total = n + n_extra
    ids = np.array([f"R_{i + 1:0{max(5, len(str(total)))}d}" for i in range(total)])
    survey = pd.DataFrame({
        "ResponseId": ids,
        "Status": all_status,
        "Finished": all_finished,
        "Duration (in seconds)": all_duration,
        "email": [f"respondent{i + 1}@firm{all_firm[i] + 1}.example.org" for i in range(total)],
        "IPAddress": [f"198.51.{(i // 250) % 250}.{i % 250 + 1}" for i in range(total)],
        "firm_id": firm_ids[all_firm],
        "cluster": cluster_names[firm_cluster[all_firm]],
        "region": region_names[cluster_region[firm_cluster[all_firm]]],
    })
    item_frame = pd.DataFrame(cells, columns=items)
    for col in items:  # whole-number codes as integers, text and blanks as they are
        item_frame[col] = item_frame[col].map(lambda v: int(v) if isinstance(v, float) else v)
    survey = pd.concat([survey, item_frame], axis=1)

    std_likert = {c: {i: round(_category_correlation(v, spec.thresholds), 4) for i, v in d.items()}
                  for c, d in loadings.items()}
    truth = {
        "truth": spec.truth,
        "truth_meaning": (
            "firm social capital is the firm's latent mean u_cluster + u_firm; the sampled "
            "respondents' mean carries within-firm sampling error" if spec.truth == "latent" else
            "firm social capital is the mean latent social capital of the firm's valid "
            "respondents; the unit score's only error is the items' measurement error"),
        "spec": _jsonable(asdict(spec)),
        "sizes": {"regions": spec.regions, "clusters": n_cl, "firms": n_f,
                  "respondents_valid": int(n), "responses_total": int(total),
                  "institutions": int(len(set(ties["target"]) - set(firm_ids))),
                  "ties": int(len(ties))},
        "injected": {"straightliners": int(n_sl), "speeders": int(n_sp), "incomplete": int(n_inc),
                     "missing_share": spec.missing_share},
        "measurement": {
            "second_order_loadings": dict(zip(constructs, gammas.tolist())),
            "loadings_continuous": loadings,
            "loadings_std_likert_approx": std_likert,
            "thresholds": list(spec.thresholds),
            "reverse_items": [i for i, r in zip(items, reverse) if r],
            "icc_latent_cluster": spec.tau_cluster,
            "icc_latent_firm_and_cluster": spec.tau_cluster + spec.tau_firm,
        },
        "catalytic_model": {
            "family": "poisson",
            "formula": "new_products ~ degree * social_capital + log_employees",
            "scale": "degree and social_capital standardised over firms (sample SD)",
            "coefficients": {"degree": spec.b_degree, "social_capital": spec.b_sc,
                             "degree:social_capital": spec.b_cat, "log_employees": spec.b_size},
        },
        "network": {"delta_sc_ties": spec.delta_sc_ties,
                    "corr_degree_social_capital": float(np.corrcoef(degree, sc_firm)[0, 1])},
    }
    latent = pd.DataFrame({"firm_id": firm_ids, "social_capital": sc_firm, "z_sc": z_sc,
                           "degree": degree, "z_degree": z_deg, "eta_linear": eta_lin})
    return SimulatedStudy(spec=spec, survey=survey, firms=firms, ties=ties, truth=truth,
                          latent=latent)


def _simulate_ties(spec, rng, firm_cluster, cluster_region, z_sc, firm_ids, cluster_names,
                   region_names, table: bool = True) -> tuple[pd.DataFrame | None, np.ndarray]:
    """The tie list (None when ``table`` is false: same random draws) and each firm's degree,
    its number of distinct partners (firms and institutions; ties are undirected)."""
    n_f = firm_ids.size
    rate = np.exp(spec.delta_sc_ties * z_sc - spec.delta_sc_ties**2 / 2)
    src_parts, tgt_parts, type_parts = [], [], []
    # inside the cluster: partners drawn uniformly among the cluster's other firms
    k_in = rng.poisson(spec.ties_within * rate)
    src = np.repeat(np.arange(n_f), k_in)
    size = spec.firms_per_cluster
    if size > 1:
        offset = rng.integers(1, size, src.size)
        pos = src % size
        tgt = src - pos + (pos + offset) % size
        src_parts.append(src)
        tgt_parts.append(tgt)
    # across clusters
    k_out = rng.poisson(spec.ties_across * rate)
    src = np.repeat(np.arange(n_f), k_out)
    if spec.clusters > 1:
        other = (firm_cluster[src] + rng.integers(1, spec.clusters, src.size)) % spec.clusters
        tgt = other * size + rng.integers(0, size, src.size)
        src_parts.append(src)
        tgt_parts.append(tgt)
    s = np.concatenate(src_parts) if src_parts else np.array([], int)
    t = np.concatenate(tgt_parts) if tgt_parts else np.array([], int)
    firm_types = np.where(rng.random(s.size) < 0.5, "supplier", "customer")
    w_rate = spec.weight_mean * np.exp(0.3 * (z_sc[s] + z_sc[t]) / 2)
    weights = 1 + rng.poisson(w_rate)
    # distinct firm partners: each unordered pair once (no tie joins a firm to itself)
    pairs = np.unique(np.minimum(s, t).astype(np.int64) * n_f + np.maximum(s, t))
    degree = (np.bincount(pairs // n_f, minlength=n_f)
              + np.bincount(pairs % n_f, minlength=n_f)).astype(float)
    frame = [pd.DataFrame({"source": firm_ids[s], "target": firm_ids[t], "weight": weights,
                           "type": firm_types})] if table else None
    # institutions
    insts = [("service", spec.p_service, np.array([f"SRV_{c}" for c in cluster_names])[firm_cluster]),
             ("university", spec.p_university,
              np.array([f"UNI_{r}" for r in region_names])[cluster_region[firm_cluster]]),
             ("government", spec.p_government,
              np.array([f"GOV_{r}" for r in region_names])[cluster_region[firm_cluster]])]
    for kind, prob, target in insts:
        p = 1 - np.exp(-(-np.log1p(-prob)) * rate)  # same rate scaling, bounded in (0, 1)
        has = rng.random(n_f) < p
        degree += has  # one institution of each kind per firm: a distinct partner
        inst_weights = 1 + rng.poisson(spec.weight_mean, has.sum())
        if table:
            frame.append(pd.DataFrame({"source": firm_ids[has], "target": target[has],
                                       "weight": inst_weights, "type": kind}))
    return (pd.concat(frame, ignore_index=True) if table else None), degree


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


EXAMPLE_MODELS = """\
  models:
    - name: catalytic
      level: unit
      formula: "new_products ~ degree * social_capital + log_employees"
      family: poisson
      se: cluster
      cluster: cluster
      focal: degree
      moderator: social_capital
      standardize: [degree, social_capital]"""


#: a study simulated with ``truth: sample`` defines a firm's social capital as its sampled
#: respondents' mean: the correction that matches it counts only the items' measurement error
#: (benchmarks/recovery_scores.py: the default ``latent`` over-corrects such a study)
_SAMPLE_TRUTH_CORRECTION = """
      # simulated with --truth sample: firm social capital is the mean of the respondents
      # sampled, so the score correction counts only the items' measurement error
      score_correction: {method: measurement}"""


def study_yaml(spec: SimulationSpec, title: str, survey_file: str) -> str:
    """The simulated study's study.yaml, from the same template as `socap init`."""
    from pipeline.template import render_study_yaml  # noqa: PLC0415

    return render_study_yaml(
        header=(f"# A simulated regional cluster study written by `socap simulate --seed {spec.seed}`.\n"
                "# The true parameters that generated it are in truth.json."),
        title=title.replace('"', "'"),
        files=f"  files: [data/raw/{survey_file}]",
        id="ResponseId",
        unit="  unit: firm_id",
        group="  group: cluster",
        scoring="factor",
        units="units:\n  file: data/raw/firms.csv\n  id: firm_id",
        network="network:\n  edges: data/raw/ties.csv\n  directed: false",
        models=EXAMPLE_MODELS + (_SAMPLE_TRUTH_CORRECTION if spec.truth == "sample" else ""),
        invariance="region" if spec.regions > 1 else "false",
        seed=str(spec.seed),
    )


def write_study(sim: SimulatedStudy, folder: Path, *, title: str | None = None) -> list[Path]:
    """Write a simulated study as a study folder; returns the files written.

    The folder gets ``study.yaml``, ``instruments/social_capital.yaml`` (the packaged default
    instrument, byte for byte), ``data/raw/{survey.xlsx|csv|parquet, firms.csv, ties.csv}``,
    empty ``data/processed/`` and ``reports/``, and ``truth.json``.
    """
    folder = Path(folder)
    raw = folder / "data" / "raw"
    for d in (raw, folder / "data" / "processed", folder / "reports", folder / "instruments"):
        d.mkdir(parents=True, exist_ok=True)
    fmt = sim.spec.survey_format
    survey_file = f"survey.{fmt}"
    written = []
    target = raw / survey_file
    if fmt == "xlsx":
        _write_xlsx(sim.survey, target)
    elif fmt == "csv":
        sim.survey.to_csv(target, index=False)
    elif fmt == "parquet":
        sim.survey.astype({c: str for c in sim.survey.columns if sim.survey[c].dtype == object}
                          ).to_parquet(target, index=False)
    else:
        raise ValueError(f"unknown survey format {fmt!r}")
    written.append(target)
    sim.firms.to_csv(raw / "firms.csv", index=False)
    sim.ties.to_csv(raw / "ties.csv", index=False)
    written += [raw / "firms.csv", raw / "ties.csv"]
    from pipeline.template import copy_default_instrument  # noqa: PLC0415

    written += copy_default_instrument(folder)
    title = title or (f"Simulated regional cluster study ({sim.spec.firms} firms in "
                      f"{sim.spec.clusters} clusters, seed {sim.spec.seed})")
    (folder / "study.yaml").write_text(study_yaml(sim.spec, title, survey_file), encoding="utf-8")
    (folder / "truth.json").write_text(json.dumps(sim.truth, indent=2) + "\n", encoding="utf-8")
    for keep in (folder / "data" / "processed" / ".gitkeep", folder / "reports" / ".gitkeep"):
        keep.touch()
    written += [folder / "study.yaml", folder / "truth.json"]
    return written


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Write an export as a survey tool does: one sheet, header row, values as typed."""
    from openpyxl import Workbook  # noqa: PLC0415

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Responses")
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        ws.append([None if (isinstance(v, float) and np.isnan(v)) else
                   (v.item() if isinstance(v, np.generic) else v) for v in row])
    wb.save(path)
