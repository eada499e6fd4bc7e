"""``socap power``: how many clusters, firms and respondents a survey needs to detect the
catalytic effect, by Monte Carlo simulation of the study's own model.

For every design of a grid (clusters, firms per cluster, respondents per firm, the size of the
interaction, the ICC of social capital, the reliability of its items) the module simulates
``replications`` studies with ``socap simulate``'s model (:func:`pipeline.simulate.draw_study`,
in memory), builds each study's unit table, fits the study's catalytic model with
:func:`pipeline.models.fit_model` and records whether the interaction is significant at
``alpha``. Power is the share of replications in which it is.

What a replication does, and where it takes a shortcut
-----------------------------------------------------
* The study is drawn from :func:`pipeline.simulate.draw_study` with one region of
  ``clusters`` clusters of ``firms_per_cluster`` firms, each firm answering with
  1 + Poisson(``respondents_per_firm`` - 1) respondents; ``icc`` is the share of the latent
  social-capital variance between firms (ICC(1) of the latent score; a ``cluster_share``
  of it, default 0.25, lies between clusters); ``effect`` is the generator's ``b_cat``, the
  interaction of standardised degree and standardised firm social capital on the outcome's
  link scale; ``reliability`` is Cronbach's alpha of each construct's 5-point items, reached
  by giving every item of the construct the loading that yields it
  (:func:`loading_for_alpha`). The outcome is drawn in the study model's family.
* Answers are missing completely at random (``missing_share``, default 0.02); the injected
  careless responses of ``socap simulate`` (straight-liners, speeders, incomplete) are left
  out, since the quality rules drop them before any score is formed.
* **Shortcut**: construct scores are the means of the valid items
  (:func:`pipeline.measure.scores.mean_scores`, the pipeline's ``scoring: mean``) even when the
  study uses factor scores -- a CFA per replication would cost ~100x the rest; unit scores are
  the means of their respondents' scores, as :func:`pipeline.levels.aggregate` forms them.
  ``degree`` is the generator's count of distinct partners (the network stage's ``degree``,
  checked in tests/test_power.py); other network measures in the formula come from
  :func:`pipeline.network.network_measures`. power.json states all of this under ``method``.

Seeds
-----
Replication ``r`` of a design draws from ``numpy.random.SeedSequence(seed, spawn_key=(k, r))``
-- the same stream as ``SeedSequence(seed).spawn(...)`` children with the design's key ``k``
(a hash of its values) in place of its position, so that adding a design to the grid leaves
the others' results as they were. Results therefore do not depend on the engine, the number
of workers or the order in which replications finish.

Resuming
--------
Every finished replication is appended to ``reports/.power-cache/replications.jsonl``, keyed by
the model's hash (model, instrument, generator settings), the seed, the design key and the
replication number; a rerun fits only what is missing (the p-value is stored, so another
``alpha`` or ``target`` reuses every replication).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from pipeline.errors import StudyError
from pipeline.simulate import THRESHOLDS

#: bump when a replication's numbers change for the same seed (the cache is keyed by it)
GENERATOR_VERSION = 2  # 2: se: cluster tests with CR2 + Satterthwaite df below 50 clusters
#: replications per task sent to a worker
CHUNK = 20
DESIGN_KEYS = ("clusters", "firms_per_cluster", "respondents_per_firm", "effect", "icc",
               "reliability")
CACHE_DIR = ".power-cache"
CACHE_FILE = "replications.jsonl"
#: unit-table columns a simulated study offers a formula (besides score and network columns)
SIMULATED_COLUMNS = ("firm_id", "cluster", "region", "employees", "log_employees", "firm_age",
                     "new_products", "n_respondents")
#: network measures computed cheaply from the generator; others need network_measures()
CHEAP_NETWORK = ("degree",)
NETWORK_COLUMNS = ("degree", "strength", "betweenness", "closeness", "eigenvector", "clustering",
                   "constraint", "effective_size", "degree_supplier", "degree_customer",
                   "degree_service", "degree_university", "degree_government")


# ----------------------------------------------------------------------------------------------
# Designs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """One design of the grid."""

    clusters: int
    firms_per_cluster: int
    respondents_per_firm: float
    effect: float
    icc: float
    reliability: float

    @property
    def firms(self) -> int:
        return self.clusters * self.firms_per_cluster

    @property
    def expected_respondents(self) -> float:
        return self.firms * self.respondents_per_firm

    @property
    def key(self) -> int:
        """A stable 63-bit key of the design's values (its seed's spawn key)."""
        text = json.dumps([self.clusters, self.firms_per_cluster, float(self.respondents_per_firm),
                           float(self.effect), float(self.icc), float(self.reliability)])
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1

    def to_dict(self) -> dict:
        return {"clusters": self.clusters, "firms_per_cluster": self.firms_per_cluster,
                "respondents_per_firm": float(self.respondents_per_firm),
                "effect": float(self.effect), "icc": float(self.icc),
                "reliability": float(self.reliability)}

    def label(self) -> str:
        return (f"{self.clusters} x {self.firms_per_cluster} firms x "
                f"{_g(self.respondents_per_firm)} resp.")


def _g(v: float) -> str:
    return f"{v:g}"


def design_grid(cfg) -> list[Design]:
    """Every combination of the grid's values, in a fixed order (clusters fastest last)."""
    return [Design(int(c), int(f), float(m), float(e), float(i), float(r))
            for e, i, r, m, f, c in product(cfg.effect, cfg.icc, cfg.reliability,
                                            cfg.respondents_per_firm, cfg.firms_per_cluster,
                                            cfg.clusters)]


# ----------------------------------------------------------------------------------------------
# Reliability -> loadings
# ----------------------------------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(48)


def _normal_cdf(x):
    from scipy.special import ndtr  # noqa: PLC0415

    return ndtr(x)


def likert_covariance(rho: float, thresholds) -> float:
    """Covariance of two codes ``1 + #(t < y)`` of standard bivariate normal ``y`` with
    correlation ``rho``: the sum over threshold pairs of ``Phi2(a, b; rho) - Phi(a) Phi(b)``,
    each written as ``int_0^rho phi2(a, b; r) dr`` (Sheppard's formula; Gauss-Legendre with 48
    nodes over ``theta = asin(r)``)."""
    t = np.asarray(thresholds, float)
    a, b = np.meshgrid(t, t, indexing="ij")
    # r = sin(theta): dr / sqrt(1 - r^2) = dtheta, so the integrand stays smooth up to rho = 1
    top = math.asin(min(max(rho, -1.0), 1.0))
    th = 0.5 * top * (_GL_X + 1.0)  # nodes on [0, asin(rho)]
    w = 0.5 * top * _GL_W
    s, c2 = np.sin(th)[:, None, None], np.cos(th)[:, None, None] ** 2
    dens = np.exp(-(a**2 - 2 * s * a * b + b**2) / (2 * c2)) / (2 * np.pi)
    return float((w[:, None, None] * dens).sum())


def likert_variance(thresholds) -> float:
    t = np.asarray(thresholds, float)
    p = _normal_cdf(t)
    a, b = np.meshgrid(p, p, indexing="ij")
    return float((np.minimum(a, b) - a * b).sum())


def likert_alpha(loading: float, k: int, thresholds) -> float:
    """Population Cronbach's alpha of ``k`` items with equal loading ``loading`` on one factor,
    each cut into categories at ``thresholds`` (what the generator does)."""
    r = likert_covariance(loading**2, thresholds) / likert_variance(thresholds)
    return k * r / (1 + (k - 1) * r)


def loading_for_alpha(alpha: float, k: int, thresholds) -> float:
    """The equal loading whose ``k`` Likert items have population alpha ``alpha`` (bisection);
    StudyError when no loading below .99 reaches it."""
    lo, hi = 1e-4, 0.99
    if likert_alpha(hi, k, thresholds) < alpha:
        raise StudyError(f"a reliability of {alpha:g} cannot be reached with {k} five-point items "
                         "(the largest the simulation reaches is "
                         f"{likert_alpha(hi, k, thresholds):.3f})", key="power.reliability",
                         fix="plan with a lower reliability, or add items to the construct")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if likert_alpha(mid, k, thresholds) < alpha:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# ----------------------------------------------------------------------------------------------
# Scenarios: what one replication needs (picklable, sent to workers)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """The study model a replication fits (a model of analysis.models)."""

    name: str
    formula: str
    family: str
    se: str
    cluster: str | None
    focal: str | None
    moderator: str | None
    random: str | None
    center: tuple[str, ...]
    standardize: tuple[str, ...]
    weight: str | None
    interaction: str  # the coefficient tested, e.g. degree:social_capital
    config_key: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["center"], d["standardize"] = list(self.center), list(self.standardize)
        return d


@dataclass(frozen=True)
class Scenario:
    """Everything a replication needs besides its design and seed.

    ``kind`` is ``study`` (socap simulate's model, the study's model) or ``ols`` (the analytic
    reference: y = 0.3 x + 0.2 w + effect x w + N(0, 1) over standard normal x and w drawn once
    per design, fitted by OLS with classical SEs -- see :func:`ols_design_matrix`)."""

    kind: str
    model: ModelSpec
    instrument: object = None
    min_valid_share: float = 0.5
    simulation: dict = field(default_factory=dict)
    network_columns: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()  # (study column, simulated column)
    outcome: str = "new_products"

    def hash(self) -> str:
        """What makes two replications with the same seed and design the same numbers."""
        from pipeline.simulate import SimulationSpec  # noqa: PLC0415

        inst = self.instrument
        payload = {
            "version": GENERATOR_VERSION, "kind": self.kind, "model": self.model.to_dict(),
            "defaults": asdict(SimulationSpec()), "thresholds": list(THRESHOLDS),
            "min_valid_share": self.min_valid_share, "simulation": self.simulation,
            "network": list(self.network_columns), "aliases": [list(a) for a in self.aliases],
            "outcome": self.outcome,
            "instrument": None if inst is None else {
                "constructs": {c: list(i) for c, i in inst.construct_items().items()},
                "reverse": [i for ids in inst.construct_items().values() for i in ids
                            if inst.item(i).reverse],
                "scale": [inst.scale.min, inst.scale.max],
                "higher_order": {k: list(v) for k, v in inst.higher_order.items()}},
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def simulation_spec(design: Design, simulation: dict):
    """The :class:`pipeline.simulate.SimulationSpec` of a design (one region; no careless
    responses; ``simulation:`` values on top)."""
    from pipeline.simulate import SimulationSpec  # noqa: PLC0415

    share = float(simulation.get("cluster_share", 0.25))
    extra = {k: v for k, v in simulation.items()
             if k not in ("cluster_share", "outcome_sd", "theta")}
    return SimulationSpec(seed=0, regions=1, clusters_per_region=design.clusters,
                          firms_per_cluster=design.firms_per_cluster,
                          respondents_per_firm=design.respondents_per_firm,
                          tau_cluster=design.icc * share, tau_firm=design.icc * (1 - share),
                          b_cat=design.effect, straightliners_share=0.0, speeders_share=0.0,
                          incomplete_share=0.0, **extra)


_LOADINGS: dict = {}


def construct_loadings(instrument, reliability: float, thresholds) -> dict[str, float]:
    """The loading per construct that gives its items alpha = ``reliability`` (cached)."""
    out = {}
    for c, ids in instrument.construct_items().items():
        key = (len(ids), round(reliability, 12), tuple(thresholds))
        if key not in _LOADINGS:
            _LOADINGS[key] = loading_for_alpha(reliability, len(ids), thresholds)
        out[c] = _LOADINGS[key]
    return out


def study_table(scenario: Scenario, design: Design, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated study's unit table (one row per firm), as the model sees it."""
    from pipeline.simulate import draw_study  # noqa: PLC0415

    sim = scenario.simulation
    spec = simulation_spec(design, sim)
    inst = scenario.instrument
    loadings = construct_loadings(inst, design.reliability, spec.thresholds)
    extra = [c for c in scenario.network_columns if c not in CHEAP_NETWORK]
    d = draw_study(spec, inst, rng, loadings=loadings, outcome=scenario.model.family,
                   outcome_sd=float(sim.get("outcome_sd", 1.0)), theta=float(sim.get("theta", 2.0)),
                   ties_table=bool(extra))
    return draw_unit_table(scenario, d, rng, spec.missing_share)


def draw_unit_table(scenario: Scenario, d, rng: np.random.Generator,
                    missing_share: float) -> pd.DataFrame:
    """The unit table of a drawn study (:class:`pipeline.simulate.StudyDraw`): answers missing
    completely at random with ``missing_share``, mean scores, firm means, degree (and the
    other network measures the model names), the firm table's columns."""
    from pipeline.measure.scores import mean_scores  # noqa: PLC0415

    inst = scenario.instrument
    codes = d.codes.copy()
    if missing_share > 0:
        codes[rng.random(codes.shape) < missing_share] = np.nan
    scores = mean_scores(pd.DataFrame(codes, columns=d.items), inst,
                         min_valid_share=scenario.min_valid_share)
    n_f = d.firm_ids.size
    table = d.firms.copy()
    for col in scores.columns:
        v = scores[col].to_numpy(float)
        ok = ~np.isnan(v)
        count = np.bincount(d.resp_firm[ok], minlength=n_f)
        total = np.bincount(d.resp_firm[ok], weights=v[ok], minlength=n_f)
        with np.errstate(invalid="ignore", divide="ignore"):
            table[col] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    table["n_respondents"] = d.n_resp_firm
    table["degree"] = d.degree.astype(int)
    extra = [c for c in scenario.network_columns if c not in CHEAP_NETWORK]
    if extra:
        from pipeline.network import network_measures  # noqa: PLC0415

        net = network_measures(d.ties, directed=False, units=list(d.firm_ids), seed=0)
        m = net.unit_measures
        m.index = m.index.astype(str)
        for c in extra:
            table[c] = m[c].reindex(table["firm_id"]).to_numpy() if c in m.columns else np.nan
    if scenario.outcome != "new_products":
        table[scenario.outcome] = table["new_products"]
    for study_col, sim_col in scenario.aliases:
        table[study_col] = table[sim_col]
    return table


def ols_design_matrix(design: Design, entropy: int) -> pd.DataFrame:
    """The analytic reference scenario's predictors: ``x`` and ``w`` standard normal, drawn once
    per design from ``SeedSequence(entropy, spawn_key=(design.key,))`` for its
    ``clusters x firms_per_cluster`` units and held fixed over the replications, so that the
    interaction's F test is exactly noncentral F(1, n - 4, b^2 / (sigma^2 [(X'X)^-1]_xw))."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(design.key,)))
    n = design.firms
    x, w = rng.standard_normal(n), rng.standard_normal(n)
    return pd.DataFrame({"x": x, "w": w})


OLS_B = {"x": 0.3, "w": 0.2}


_OLS_X: dict = {}


def ols_table(design: Design, entropy: int, rng: np.random.Generator) -> pd.DataFrame:
    key = (design, entropy)
    if key not in _OLS_X:
        _OLS_X.clear()
        _OLS_X[key] = ols_design_matrix(design, entropy)
    t = _OLS_X[key].copy()
    x, w = t["x"].to_numpy(), t["w"].to_numpy()
    t["y"] = (OLS_B["x"] * x + OLS_B["w"] * w + design.effect * x * w
              + rng.standard_normal(x.size))
    return t


def ols_scenario() -> Scenario:
    model = ModelSpec(name="ols", formula="y ~ x * w", family="gaussian", se="classical",
                      cluster=None, focal=None, moderator=None, random=None, center=(),
                      standardize=(), weight=None, interaction="x:w", config_key="power")
    return Scenario(kind="ols", model=model)


# ----------------------------------------------------------------------------------------------
# One replication, one chunk
# ----------------------------------------------------------------------------------------------

_FIT_TROUBLE: tuple = ()


def _fit_trouble() -> tuple:
    global _FIT_TROUBLE
    if not _FIT_TROUBLE:
        from pipeline.models.estimation import RankDeficient  # noqa: PLC0415

        _FIT_TROUBLE = (StudyError, RankDeficient, np.linalg.LinAlgError, FloatingPointError,
                        ZeroDivisionError)
    return _FIT_TROUBLE


def replication_table(scenario: Scenario, design: Design, entropy: int, rep: int) -> pd.DataFrame:
    """The table replication ``rep`` of ``design`` fits (its seed as the module says)."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(design.key, rep)))
    if scenario.kind == "ols":
        return ols_table(design, entropy, rng)
    return study_table(scenario, design, rng)


def fit_replication(scenario: Scenario, table: pd.DataFrame, entropy: int):
    from pipeline.models import fit_model  # noqa: PLC0415

    m = scenario.model
    return fit_model(table, name=m.name, formula=m.formula, family=m.family, se=m.se,
                     cluster=m.cluster, focal=m.focal, moderator=m.moderator, random=m.random,
                     center=list(m.center), standardize=list(m.standardize), weight=m.weight,
                     level="unit", seed=entropy, config_key=m.config_key,
                     wild_draws=0)  # power counts the coefficient test; no bootstrap per study


def replicate(scenario: Scenario, design: Design, entropy: int, rep: int) -> dict:
    """One replication: ``{r, p, est, conv, err}`` (p-value and estimate of the interaction;
    ``conv`` false when the fit failed or did not converge)."""
    table = replication_table(scenario, design, entropy, rep)
    try:
        with np.errstate(all="ignore"):
            res = fit_replication(scenario, table, entropy)
    except _fit_trouble() as exc:  # statistical trouble of one simulated study: recorded
        msg = exc.format() if isinstance(exc, StudyError) else str(exc)
        return {"r": rep, "p": None, "est": None, "conv": False, "err": msg[:300]}
    coef = res.coefficients.get(scenario.model.interaction) or {}
    p, est = coef.get("p"), coef.get("estimate")
    conv = ((res.diagnostics.get("convergence") or {}).get("converged", True)
            and (res.diagnostics.get("convergence") or {}).get("theta_converged", True))
    ok = p is not None and est is not None and math.isfinite(p) and math.isfinite(est)
    return {"r": rep, "p": float(p) if ok else None, "est": float(est) if ok else None,
            "conv": bool(conv and ok), "err": None if ok else "no estimate of the interaction"}


def run_chunk(scenario: Scenario, design: Design, entropy: int, reps: list[int]) -> list[dict]:
    """Replications ``reps`` of ``design`` (the task a worker runs)."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    with threadpool_limits(1):  # small dense solves: one BLAS thread per worker
        return [replicate(scenario, design, entropy, r) for r in reps]


# ----------------------------------------------------------------------------------------------
# The study's scenario
# ----------------------------------------------------------------------------------------------


def interaction_term(formula, focal: str | None, moderator: str | None) -> str | None:
    """The formula's term for focal x moderator (either order), or its only interaction."""
    labels = formula.term_labels
    if focal and moderator:
        for t in (f"{focal}:{moderator}", f"{moderator}:{focal}"):
            if t in labels:
                return t
        return None
    inter = [t for t in labels if ":" in t]
    return inter[0] if len(inter) == 1 else None


def study_scenario(study, cfg) -> Scenario:
    """The scenario of a study: its model (``power: model:`` or the first of analysis.models)
    and instrument; StudyError (exit 2) when socap power cannot plan for it."""
    from pipeline.config.instrument import read_instrument  # noqa: PLC0415
    from pipeline.models.formula import FormulaSyntaxError, parse_formula  # noqa: PLC0415

    c = study.config
    models = c.analysis.models
    if not models:
        raise StudyError("socap power plans for the study's catalytic model, but analysis.models "
                         "is empty", file=study.file, key="analysis.models",
                         fix="add the model you will fit (see the commented models: example in "
                             "the study.yaml `socap init` writes)")
    if cfg.model is None:
        i, m = 0, models[0]
    else:
        found = [(i, m) for i, m in enumerate(models) if m.name == cfg.model]
        if not found:
            from pipeline.errors import did_you_mean  # noqa: PLC0415

            names = [m.name for m in models]
            raise StudyError(f"power: model: '{cfg.model}' is not a model of analysis.models; "
                             f"{did_you_mean(cfg.model, names)}", file=study.file,
                             key="power.model", fix="name one of: " + ", ".join(names))
        i, m = found[0]
    key = f"analysis.models[{i}]"
    if m.level != "unit":
        raise StudyError(f"model '{m.name}' is at respondent level; socap power plans unit-level "
                         "(firm) models", file=study.file, key=f"{key}.level",
                         fix="plan with a unit-level model (power: model: NAME)")
    try:
        form = parse_formula(m.formula)
    except FormulaSyntaxError as exc:
        raise StudyError(f"cannot read the formula '{m.formula}': {exc}", file=study.file,
                         key=f"{key}.formula", fix="write it in R syntax") from None
    term = interaction_term(form, m.focal, m.moderator)
    if term is None:
        raise StudyError(f"the formula '{m.formula}' of model '{m.name}' has no interaction "
                         f"{'of ' + m.focal + ' and ' + m.moderator if m.focal else 'to test'}",
                         file=study.file, key=f"{key}.formula",
                         fix="socap power tests the catalytic interaction: write it as "
                             "'outcome ~ degree * social_capital + ...' with focal: and "
                             "moderator:")
    instrument = read_instrument(study.path(c.instrument))
    outcome = form.response.columns[0] if form.response and form.response.columns else "new_products"
    aliases = []
    for col in (m.cluster if m.se == "cluster" else None, m.random, c.survey.group):
        if col and col not in SIMULATED_COLUMNS and col not in [a for a, _ in aliases]:
            aliases.append((col, "cluster"))
    if c.units and c.units.id not in SIMULATED_COLUMNS:
        aliases.append((c.units.id, "firm_id"))
    if c.survey.unit and c.survey.unit not in SIMULATED_COLUMNS and c.survey.unit not in [
            a for a, _ in aliases]:
        aliases.append((c.survey.unit, "firm_id"))
    used = set(form.columns) | {x for x in (m.cluster, m.random, m.weight) if x}
    network = tuple(col for col in NETWORK_COLUMNS if col in used)
    spec = ModelSpec(name=m.name, formula=m.formula, family=m.family, se=m.se, cluster=m.cluster,
                     focal=m.focal, moderator=m.moderator, random=m.random,
                     center=tuple(m.center), standardize=tuple(m.standardize), weight=m.weight,
                     interaction=term, config_key=key)
    scenario = Scenario(kind="study", model=spec, instrument=instrument,
                        min_valid_share=c.scoring.min_valid_share, simulation=dict(cfg.simulation),
                        network_columns=network, aliases=tuple(aliases), outcome=outcome)
    _check_columns(scenario, study, key)
    return scenario


def _check_columns(scenario: Scenario, study, key: str) -> None:
    """The model's columns exist in a simulated table (a small design, one draw)."""
    from pipeline.models.formula import parse_formula  # noqa: PLC0415

    probe = Design(2, 5, 2.0, 0.1, 0.4, 0.8)
    table = study_table(scenario, probe, np.random.default_rng(0))
    m = scenario.model
    missing = [c for c in parse_formula(m.formula).columns if c not in table.columns]
    missing += [c for c in (m.cluster if m.se == "cluster" else None, m.random, m.weight)
                if c and c not in table.columns]
    if missing:
        raise StudyError(
            f"model '{m.name}' uses {', '.join(repr(c) for c in missing)}, which socap power's "
            "simulated studies do not have; they have: "
            + ", ".join(c for c in table.columns if c not in ("new_products",) or
                        scenario.outcome == "new_products"),
            file=study.file, key=f"{key}.formula",
            fix="plan with a model over these columns (power: model: NAME names another model "
                "of analysis.models)")


# ----------------------------------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------------------------------


def cache_path(reports: Path) -> Path:
    return Path(reports) / CACHE_DIR / CACHE_FILE


def read_cache(path: Path, model_hash: str, entropy: int) -> dict[tuple[int, int], dict]:
    """Finished replications of this model and seed: {(design key, rep): record}. Lines cut
    short by an interruption are skipped."""
    out: dict[tuple[int, int], dict] = {}
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict) or rec.get("h") != model_hash or rec.get("s") != entropy:
                continue
            try:
                out[(int(rec["d"]), int(rec["r"]))] = rec
            except (KeyError, TypeError, ValueError):
                continue
    return out


def _append(fh, model_hash: str, entropy: int, dkey: int, records: Iterable[dict]) -> None:
    lines = [json.dumps({"h": model_hash, "s": entropy, "d": dkey, **rec}, separators=(",", ":"))
             for rec in records]
    fh.write("\n".join(lines) + "\n")
    fh.flush()


# ----------------------------------------------------------------------------------------------
# Engines
# ----------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """A one-line progress display on stderr (tqdm is not a socap dependency)."""

    total: int
    done: int = 0
    enabled: bool = True
    started: float = field(default_factory=time.perf_counter)
    _last: float = 0.0

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled or self.done == 0:
            return
        now = time.perf_counter()
        every = 0.5 if sys.stderr.isatty() else 10.0  # a log file gets a line per 10 s
        if now - self._last < every and self.done < self.total:
            return
        self._last = now
        rate = self.done / max(now - self.started, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        pct = 100.0 * self.done / max(self.total, 1)
        bar = "#" * int(pct // 5)
        text = (f"power: [{bar:<20}] {self.done}/{self.total} replications ({pct:.0f}%), "
                f"{rate:.1f}/s, about {left:.0f} s left")
        end = "\n" if self.done >= self.total or not sys.stderr.isatty() else ""
        print("\r" + text if sys.stderr.isatty() else text, end=end, file=sys.stderr, flush=True)


def _local_jobs(jobs: int | None) -> int:
    n = os.cpu_count() or 1
    if jobs is None:
        return n
    return n if jobs <= 0 else jobs


def _execute(tasks: list[tuple[Design, list[int]]], scenario: Scenario, entropy: int, *,
             jobs: int | None, scheduler: str | None, on_done: Callable[[Design, list], None]):
    """Run the tasks; ``on_done(design, records)`` as each finishes (any order). Returns the
    engine description."""
    if scheduler:
        try:
            from distributed import Client, as_completed  # noqa: PLC0415
        except ImportError:
            raise StudyError("--scheduler needs the dask distributed package",
                             fix='pip install "socap[dask]" (or pip install distributed)') from None
        _reachable(scheduler)
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise StudyError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                             fix="start it (dask scheduler; dask worker ADDRESS) or give its "
                                 "address, e.g. --scheduler tcp://10.0.0.5:8786") from None
        try:
            workers = len(client.scheduler_info().get("workers", {}))
            check_workers(client, scheduler)
            sc = client.scatter(scenario, broadcast=True)
            futures = {}
            for design, reps in tasks:
                fut = client.submit(run_chunk, sc, design, entropy, reps, pure=False)
                futures[fut] = design
            for fut in as_completed(list(futures)):
                on_done(futures[fut], fut.result())
        finally:
            client.close()
        return {"name": "dask", "scheduler": scheduler, "workers": workers}
    n = _local_jobs(jobs)
    if n == 1:
        for design, reps in tasks:
            on_done(design, run_chunk(scenario, design, entropy, reps))
        return {"name": "local", "backend": "this process", "workers": 1}
    from joblib import Parallel, delayed  # noqa: PLC0415

    par = Parallel(n_jobs=n, backend="loky", return_as="generator_unordered")
    calls = (delayed(_chunk_with_design)(scenario, design, entropy, reps) for design, reps in tasks)
    for design, records in par(calls):
        on_done(design, records)
    return {"name": "local", "backend": "joblib/loky processes", "workers": n}


def worker_versions() -> tuple[str, int]:
    """socap's version and the generator's on a worker (it must match this process's)."""
    from pipeline import __version__  # noqa: PLC0415

    return __version__, GENERATOR_VERSION


def check_workers(client, address: str) -> None:
    """Every worker runs the same socap: otherwise it could not unpickle the tasks, or would
    draw other numbers for the same seeds."""
    fix = ("install the same socap in the workers' environment (pip install socap==VERSION, or "
           "the same checkout with pip install -e .) and restart them")
    try:
        found = client.run(worker_versions)
    except (ImportError, AttributeError) as exc:
        raise StudyError(f"the Dask workers at {address} cannot run socap: {exc}", fix=fix) from None
    mine = worker_versions()
    other = {w: tuple(v) for w, v in found.items() if tuple(v) != mine}
    if other:
        w, v = next(iter(other.items()))
        raise StudyError(f"the Dask worker {w} runs socap {v[0]} (generator {v[1]}), this "
                         f"process socap {mine[0]} (generator {mine[1]}); results would differ",
                         fix=fix)


def _reachable(address: str) -> None:
    """A quick TCP check of a tcp:// scheduler address (a Client would wait its whole timeout
    before saying that nothing answers)."""
    import socket  # noqa: PLC0415
    from urllib.parse import urlparse  # noqa: PLC0415

    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme != "tcp" or not url.hostname or not url.port:
        return
    try:
        socket.create_connection((url.hostname, url.port), timeout=5).close()
    except OSError as exc:
        raise StudyError(f"cannot reach the Dask scheduler at {address}: {exc}",
                         fix="start it (dask scheduler; dask worker ADDRESS) or give its "
                             "address, e.g. --scheduler tcp://10.0.0.5:8786") from None


def _chunk_with_design(scenario, design, entropy, reps):
    return design, run_chunk(scenario, design, entropy, reps)


# ----------------------------------------------------------------------------------------------
# The power analysis
# ----------------------------------------------------------------------------------------------


def summarise(design: Design, records: list[dict], alpha: float, target: float,
              entropy: int) -> dict:
    """One design's power, Monte Carlo SE and convergence from its replications."""
    n = len(records)
    conv = [r for r in records if r["conv"]]
    sig = sum(1 for r in conv if r["p"] < alpha)
    power = sig / n if n else None
    se = math.sqrt(power * (1 - power) / n) if n else None
    est = [r["est"] for r in conv]
    errors = sorted({r["err"] for r in records if r.get("err")})
    return {
        "design": design.to_dict(), "firms": design.firms,
        "expected_respondents": design.expected_respondents,
        "replications": n, "significant": sig, "power": power, "mc_se": se,
        "power_ci95": None if power is None else [max(0.0, power - 1.959963984540054 * se),
                                                  min(1.0, power + 1.959963984540054 * se)],
        "converged": len(conv), "share_converged": len(conv) / n if n else None,
        "power_converged": sig / len(conv) if conv else None,
        "mean_estimate": float(np.mean(est)) if est else None,
        "sd_estimate": float(np.std(est, ddof=1)) if len(est) > 1 else None,
        "reaches_target": bool(power is not None and power >= target),
        "seed": {"entropy": entropy, "spawn_key": [design.key]},
        "fit_problems": errors[:3],
    }


def smallest_designs(rows: list[dict], target: float) -> list[dict]:
    """Per scenario (effect, ICC, reliability): the design with the fewest expected respondents
    (then firms, then clusters) whose power reaches the target; design null when none does."""
    out = []
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        d = row["design"]
        groups.setdefault((d["effect"], d["icc"], d["reliability"]), []).append(row)
    for (effect, icc, rel), members in groups.items():
        ok = [r for r in members if r["reaches_target"]]
        best = min(ok, key=lambda r: (r["expected_respondents"], r["firms"],
                                      r["design"]["clusters"])) if ok else None
        out.append({"effect": effect, "icc": icc, "reliability": rel,
                    "design": best["design"] if best else None,
                    "power": best["power"] if best else None,
                    "mc_se": best["mc_se"] if best else None,
                    "max_power": max(r["power"] for r in members)})
    return out


def run_power(scenario: Scenario, designs: list[Design], *, replications: int, alpha: float,
              target: float, entropy: int, cache: Path | None = None, jobs: int | None = None,
              scheduler: str | None = None, progress: bool = True,
              after_chunk: Callable[[int], None] | None = None) -> dict:
    """Monte Carlo power of ``scenario``'s interaction for every design.

    Parameters
    ----------
    scenario, designs
        What a replication simulates and fits; the grid.
    replications, alpha, target
        Replications per design; the significance level; the power wanted.
    entropy
        The study's seed (the SeedSequence entropy).
    cache
        The jsonl file of finished replications (None: no cache).
    jobs, scheduler
        Local worker processes (None: one per core; 1: this process), or the address of a
        Dask distributed scheduler.
    after_chunk
        Called with the number of finished tasks after each one (tests interrupt here).

    Returns
    -------
    dict
        power.json's content (without the study-level keys the command adds).
    """
    t0 = time.perf_counter()
    model_hash = scenario.hash()
    have = read_cache(cache, model_hash, entropy) if cache is not None else {}
    records: dict[int, dict[int, dict]] = {d.key: {} for d in designs}
    reused = 0
    for d in designs:
        for r in range(replications):
            rec = have.get((d.key, r))
            if rec is not None:
                records[d.key][r] = rec
                reused += 1
    tasks = []
    for d in designs:
        todo = [r for r in range(replications) if r not in records[d.key]]
        tasks += [(d, todo[i:i + CHUNK]) for i in range(0, len(todo), CHUNK)]
    bar = Progress(total=replications * len(designs), enabled=progress)
    bar.update(reused)
    fh = None
    if cache is not None and tasks:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cut = False
        if cache.exists() and cache.stat().st_size:
            with open(cache, "rb") as raw:  # a line cut short by an interruption: end it
                raw.seek(-1, os.SEEK_END)
                cut = raw.read(1) != b"\n"
        fh = open(cache, "a", encoding="utf-8")
        if cut:
            fh.write("\n")
    finished = [0]

    def on_done(design: Design, recs: list[dict]) -> None:
        for rec in recs:
            records[design.key][rec["r"]] = rec
        if fh is not None:
            _append(fh, model_hash, entropy, design.key, recs)
        bar.update(len(recs))
        finished[0] += 1
        if after_chunk is not None:
            after_chunk(finished[0])

    try:
        engine = _execute(tasks, scenario, entropy, jobs=jobs, scheduler=scheduler,
                          on_done=on_done) if tasks else {"name": "cache", "workers": 0}
    finally:
        if fh is not None:
            fh.close()
    engine.setdefault("chunk", CHUNK)
    rows = [summarise(d, [records[d.key][r] for r in range(replications)], alpha, target, entropy)
            for d in designs]
    return {
        "alpha": alpha, "target": target, "replications": replications,
        "designs": rows, "smallest": smallest_designs(rows, target),
        "seeds": {"entropy": entropy,
                  "rule": "replication r of a design draws from numpy.random.SeedSequence("
                          "entropy, spawn_key=(design key, r)); the design key is a hash of "
                          "the design's values (designs[].seed.spawn_key)"},
        "engine": engine,
        "cache": {"file": None if cache is None else str(cache), "model_hash": model_hash,
                  "reused": reused, "computed": replications * len(designs) - reused},
        "seconds": round(time.perf_counter() - t0, 3),
    }


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------

#: CLI option -> power: key
OPTIONS = {"clusters": "--clusters", "firms_per_cluster": "--firms", "respondents_per_firm":
           "--respondents", "effect": "--effect", "icc": "--icc", "reliability": "--reliability",
           "replications": "--replications", "target": "--target", "alpha": "--alpha",
           "model": "--model"}


def power_config(study, overrides: dict):
    """study.yaml's ``power:`` with the command line's options on top (validated)."""
    from pydantic import ValidationError  # noqa: PLC0415

    from pipeline.config.study import PowerConfig  # noqa: PLC0415
    from pipeline.errors import ProblemList  # noqa: PLC0415

    base = study.config.power.model_dump() if study.config.power is not None else {}
    merged = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return PowerConfig.model_validate(merged)
    except ValidationError as exc:
        problems = ProblemList()
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            option = OPTIONS.get(name, name)
            msg = err["msg"].removeprefix("Value error, ")
            problems.add(f"{msg} (got {err.get('input')!r})", key=option,
                         fix=f"e.g. {option} {_EXAMPLES.get(name, '')}".strip())
        problems.raise_if_any("socap power's options have problems:")
        raise  # pragma: no cover


_EXAMPLES = {"clusters": "8,12,16", "firms_per_cluster": "10,25", "respondents_per_firm": "3,5",
             "effect": "0.1,0.15", "icc": "0.4", "reliability": "0.8", "replications": "500",
             "target": "0.8", "alpha": "0.05"}


def method_notes(scenario: Scenario, study) -> dict:
    m = scenario.model
    scoring = study.config.scoring.method
    return {
        "generator": "socap simulate's model (pipeline.simulate.draw_study), one region; "
                     "careless responses left out; answers missing completely at random",
        "scores": ("mean of each construct's valid items and of the constructs for "
                   "higher-order scores (scoring: mean); unit score = mean of its respondents' "
                   "scores" + ("; the study itself uses factor scores from the CFA -- a CFA per "
                               "replication is skipped for speed (a faithful shortcut: the "
                               "scores are near-linear in the factor scores)"
                               if scoring == "factor" else "")),
        "network": "degree from the simulated tie list (distinct partners)"
                   + (f"; {', '.join(c for c in scenario.network_columns if c != 'degree')} "
                      "by pipeline.network.network_measures" if len(scenario.network_columns) > 1
                      or (scenario.network_columns and scenario.network_columns[0] != "degree")
                      else ""),
        "effect": "the generator's b_cat: the interaction of standardised degree and "
                  "standardised firm social capital on the outcome's link scale (truth.json "
                  "catalytic_model)",
        "icc": "share of latent social-capital variance between firms (ICC(1) of the latent "
               "score); a cluster_share (default 0.25) of it lies between clusters",
        "reliability": "population Cronbach's alpha of each construct's five-point items (equal "
                       "loadings solved for it)",
        "test": f"the coefficient {m.interaction} of model '{m.name}' ({m.family}, se: {m.se}) "
                "significant at alpha; power = significant replications / replications (a "
                "replication whose fit fails counts as not significant)",
        "mc_se": "sqrt(power (1 - power) / replications)",
    }


def power_study(folder, overrides: dict | None = None, *, jobs: int | None = None,
                scheduler: str | None = None, progress: bool = True,
                after_chunk: Callable[[int], None] | None = None) -> dict:
    """``socap power``: run the grid of a study and write reports/power.json and power.html.

    Returns power.json's content."""
    from pipeline.config.study import read_study  # noqa: PLC0415

    study = read_study(folder)
    cfg = power_config(study, overrides or {})
    scenario = study_scenario(study, cfg)
    designs = design_grid(cfg)
    for d in designs:  # every reliability reachable, before any work
        construct_loadings(scenario.instrument, d.reliability, THRESHOLDS)
    reports = study.reports_dir
    # the study's lock, as `socap run` takes it: a run swaps reports/ (where the cache and
    # power's pages live), so the two never write the study at the same time
    from pipeline.atomic import lock_study, recover  # noqa: PLC0415

    lock = lock_study(study.folder, note=lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        recover(study.folder)
        return _power_locked(study, cfg, scenario, designs, reports, jobs=jobs,
                             scheduler=scheduler, progress=progress, after_chunk=after_chunk)
    finally:
        lock.release()


def _power_locked(study, cfg, scenario, designs, reports, *, jobs, scheduler, progress,
                  after_chunk) -> dict:
    """power_study's work once it holds the study's lock."""
    from pipeline import __version__  # noqa: PLC0415

    result = run_power(scenario, designs, replications=cfg.replications, alpha=cfg.alpha,
                       target=cfg.target, entropy=int(study.config.seed),
                       cache=cache_path(reports), jobs=jobs, scheduler=scheduler,
                       progress=progress, after_chunk=after_chunk)
    out = {
        "schema_version": "1.0.0", "study": study.config.title,
        "software": {"socap": __version__, "python": sys.version.split()[0]},
        "model": scenario.model.to_dict(), "config": cfg.model_dump(mode="json"),
        "method": method_notes(scenario, study), **result,
    }
    warnings = []
    for row in out["designs"]:
        if row["share_converged"] is not None and row["share_converged"] < 0.95:
            warnings.append(f"{Design(**row['design']).label()}: only "
                            f"{row['share_converged']:.0%} of the fits converged "
                            f"({'; '.join(row['fit_problems'])}).")
    if scenario.model.se in ("cluster", "cr1") and min(cfg.clusters) < 50:
        if scenario.model.se == "cr1":
            warnings.append("CR1 standard errors are biased downwards with fewer than about 50 "
                            "clusters, so power (and the type I error) is overstated for designs "
                            "with few clusters; se: cluster would test with CR2 and "
                            "Satterthwaite df.")
        elif min(cfg.clusters) < 12:
            warnings.append("Designs with fewer than 12 clusters: even CR2 with Satterthwaite df "
                            "(what se: cluster uses below 50 clusters) can be unreliable with so "
                            "few clusters, so read their power with caution.")
    if scenario.model.focal not in (None, "degree") or scenario.model.moderator not in (
            None, "social_capital"):
        warnings.append(f"The simulated catalytic effect is degree x social_capital; the model's "
                        f"{scenario.model.interaction} sees it only through its correlation with "
                        "that product.")
    out["warnings"] = warnings
    write_power_outputs(reports, out)
    return out


def write_power_outputs(reports: Path, out: dict) -> None:
    """power.json and power.html, each written whole and moved into place."""
    from pipeline.report.power_html import power_html  # noqa: PLC0415

    reports.mkdir(parents=True, exist_ok=True)
    for name, text in (("power.json", json.dumps(out, indent=2, allow_nan=False) + "\n"),
                       ("power.html", power_html(out))):
        tmp = reports / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, reports / name)


def summary_lines(out: dict) -> list[str]:
    """The printed summary: one line per design, then the smallest design per scenario."""
    lines = [f"Power of {out['model']['interaction']} in model '{out['model']['name']}' "
             f"({out['replications']} replications per design, alpha = {out['alpha']:g}, "
             f"target {out['target']:.2f}):"]
    head = (f"  {'clusters':>8} {'firms/cl':>8} {'resp/firm':>9} {'effect':>7} {'icc':>5} "
            f"{'rel':>5} {'power':>6} {'MC SE':>6} {'conv':>5}")
    lines.append(head)
    for row in out["designs"]:
        d = row["design"]
        lines.append(f"  {d['clusters']:>8} {d['firms_per_cluster']:>8} "
                     f"{_g(d['respondents_per_firm']):>9} {_g(d['effect']):>7} {_g(d['icc']):>5} "
                     f"{_g(d['reliability']):>5} {row['power']:>6.3f} {row['mc_se']:>6.3f} "
                     f"{row['share_converged']:>5.0%}")
    for s in out["smallest"]:
        what = f"effect {_g(s['effect'])}, ICC {_g(s['icc'])}, reliability {_g(s['reliability'])}"
        if s["design"] is None:
            lines.append(f"No design reaches power {out['target']:.2f} for {what} (highest "
                         f"{s['max_power']:.3f}): add clusters or firms.")
        else:
            d = s["design"]
            lines.append(f"Smallest design reaching {out['target']:.2f} for {what}: "
                         f"{d['clusters']} clusters x {d['firms_per_cluster']} firms x "
                         f"{_g(d['respondents_per_firm'])} respondents per firm (power "
                         f"{s['power']:.3f} +- {s['mc_se']:.3f}).")
    e = out["engine"]
    lines.append(f"Engine: {e['name']} ({e.get('backend', e.get('scheduler', ''))}, "
                 f"{e.get('workers')} workers); {out['cache']['reused']} replications from the "
                 f"cache, {out['cache']['computed']} computed in {out['seconds']:.1f} s.")
    for w in out.get("warnings", []):
        lines.append(f"Warning: {w}")
    lines.append("Wrote reports/power.json and reports/power.html.")
    return lines
