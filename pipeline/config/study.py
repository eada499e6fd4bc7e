"""study.yaml: the study's configuration (CONTRACT section 2).

:func:`read_study` loads and validates ``study.yaml``, resolves every path against the study
folder, and returns a frozen :class:`Study`. Every problem of the file is reported at once, each
with its key, line and fix; unknown keys suggest the closest valid key.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import ProblemList, StudyError, did_you_mean
from pipeline.config.yamlfile import dotted, read_yaml

STUDY_FILE = "study.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SurveyConfig(_Strict):
    files: list[str] | None = None
    sheet: str | int | None = None
    id: str | None = None
    unit: str | None = None
    group: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    # codes meaning missing for every item, or {item or construct: [codes]} ("*": every item)
    missing: list[str | int | float] | dict[str, list[str | int | float]] = Field(
        default_factory=list)
    weight: str | None = None
    layout: Literal["auto", "plain", "qualtrics", "surveymonkey", "kobo", "limesurvey", "redcap",
                    "sosci", "googleforms", "msforms", "spss", "stata"] = "auto"
    separator: str | None = None  # KoBo/ODK group separator ("/", "-", ".", ":"); detected when absent
    language: str | None = None  # XLSForm label language used for text answers
    # columns written to data/processed/ and reports/ beside ids, items, scores and the models'
    # columns (everything else of the export is left out: data minimisation)
    keep: list[str] = Field(default_factory=list)

    @field_validator("files", mode="before")
    @classmethod
    def _one_file(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("keep", mode="before")
    @classmethod
    def _one_kept(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v

    @field_validator("missing", mode="before")
    @classmethod
    def _one_code(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): [c] if isinstance(c, (str, int, float)) and not isinstance(c, bool)
                    else c for k, c in v.items()}
        return [v] if isinstance(v, (str, int, float)) else v


class QualityConfig(_Strict):
    """The quality rules (pipeline.clean.quality.RULES), each switched or tuned by its name."""

    previews: bool = True
    incomplete: bool = True
    speeders: float | Literal[False] = 0.5
    attention_checks: bool = True  # the instrument's attention_checks, where it declares some
    straightlining: bool = True
    # careless-responding indices (R package careless): off until a threshold is given
    longstring: int | Literal[False] = False  # drop a run of this many identical answers or more
    irv: float | Literal[False] = False  # drop an intra-individual response SD below this
    mahalanobis: float | Literal[False] = False  # drop D2 above the chi2 quantile at this level
    even_odd: float | Literal[False] = False  # drop even-odd consistency below this
    max_missing_share: float | Literal[False] = 0.5

    @field_validator("longstring", mode="before")
    @classmethod
    def _run_length(cls, v: Any) -> Any:
        if v is True or (isinstance(v, (int, float)) and not isinstance(v, bool)
                         and (v < 2 or v != int(v))):
            raise ValueError("give the run length (a whole number of items, at least 2) that "
                             "drops a response, e.g. longstring: 10, or false")
        return v

    @field_validator("irv", mode="before")
    @classmethod
    def _irv(cls, v: Any) -> Any:
        if v is True or (isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0):
            raise ValueError("give the smallest acceptable SD of a respondent's answers "
                             "(e.g. irv: 0.5), or false")
        return v

    @field_validator("mahalanobis", mode="before")
    @classmethod
    def _confidence(cls, v: Any) -> Any:
        if v is True or (isinstance(v, (int, float)) and not isinstance(v, bool)
                         and not 0.5 <= v < 1):
            raise ValueError("give the confidence level of the chi-square cut (e.g. "
                             "mahalanobis: 0.999), or false")
        return v

    @field_validator("even_odd", mode="before")
    @classmethod
    def _consistency(cls, v: Any) -> Any:
        if v is True or (isinstance(v, (int, float)) and not isinstance(v, bool)
                         and not -1 <= v <= 1):
            raise ValueError("give the smallest acceptable even-odd consistency between -1 and "
                             "1 (e.g. even_odd: 0.3, Johnson 2005), or false")
        return v

    @field_validator("speeders", "max_missing_share", mode="before")
    @classmethod
    def _share(cls, v: Any) -> Any:
        if v is True:
            raise ValueError("give a share between 0 and 1 (e.g. 0.5), or false to switch it off")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 < v <= 1:
            raise ValueError(f"must be a share between 0 and 1, not {v}")
        return v


class ScoringConfig(_Strict):
    method: Literal["factor", "mean"] = "factor"
    min_valid_share: float = Field(0.5, gt=0, le=1)


class UnitsConfig(_Strict):
    file: str
    id: str
    sheet: str | int | None = None
    min_respondents: int = Field(1, ge=1)


INSTITUTION_TYPES = ("university", "research", "institute", "college", "school", "service",
                     "government", "public", "agency", "ministry", "municipality", "chamber",
                     "association", "bank", "institution", "ngo")


class NetworkConfig(_Strict):
    edges: str
    directed: bool = False
    # nodes that are not units: named here, or recognised by the types of their ties
    institutions: list[str] = Field(default_factory=list)
    institution_types: list[str] = Field(default_factory=lambda: list(INSTITUTION_TYPES))
    sheet: str | int | None = None
    # exact betweenness/closeness up to this many nodes (~2 min at 20,000 on 2 cores); above it,
    # unbiased estimates from a seeded sample of source nodes, with a warning
    exact_betweenness_max_nodes: int = Field(20_000, ge=0)


class EFAConfig(_Strict):
    n_factors: int | Literal["auto"] = "auto"
    method: Literal["ml", "minres"] = "ml"
    rotation: Literal["oblimin", "promax", "varimax", "geomin", "none"] = "oblimin"
    parallel_iterations: int = Field(20, ge=1)
    # polychoric: EFA and parallel analysis on polychoric correlations (psych cor = "poly")
    correlation: Literal["pearson", "polychoric"] = "pearson"

    @field_validator("n_factors")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be 'auto' or a whole number of at least 1")
        return v


class CFAConfig(_Strict):
    """``analysis.cfa`` as a mapping: estimator, missing-data treatment, cluster-robust SEs.

    ``estimator: ml`` with ``missing: listwise`` is ``lavaan::cfa``'s default and socap's
    (``cfa: true``); ``auto`` picks WLSMV when every item has at most 7 answer categories
    (ordinal) and MLR with FIML otherwise, and says why in results.json (cfa.estimator_reason).
    ``cluster`` names a column whose clusters get cluster-robust SEs and test (lavaan's
    ``cluster =``, which needs ``estimator: mlr`` here).
    """

    estimator: Literal["ml", "mlr", "wlsmv", "auto"] = "ml"
    missing: Literal["listwise", "fiml"] | None = None  # None: listwise, or auto's choice
    cluster: str | None = None

    @field_validator("estimator", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("missing", mode="before")
    @classmethod
    def _lavaan_spelling(cls, v: Any) -> Any:
        if isinstance(v, str):  # lavaan writes missing = "ml" for FIML
            v = v.strip().lower()
            return "fiml" if v in ("ml", "direct", "fiml") else v
        return v

    @field_validator("cluster")
    @classmethod
    def _named(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            raise ValueError("name the column that defines the clusters, e.g. cluster: school")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "CFAConfig":
        if self.estimator == "wlsmv" and self.missing == "fiml":
            raise ValueError(
                "missing: fiml is full-information maximum likelihood and cannot go with "
                "estimator: wlsmv (a least-squares estimator on polychoric correlations; lavaan "
                "refuses missing = 'ml' for WLSMV too). Fix: write estimator: mlr with missing: fiml "
                "to keep every respondent, or estimator: wlsmv with missing: listwise")
        if self.cluster and self.estimator in ("ml", "wlsmv"):
            raise ValueError(
                f"cluster: {self.cluster} (cluster-robust SEs) needs estimator: mlr (or auto, "
                "which then uses MLR): lavaan's cluster-robust standard errors and "
                "Yuan-Bentler test are the MLR ones. Fix: write estimator: mlr, or remove cluster:")
        return self

    @property
    def resolved_missing(self) -> str | None:
        """listwise/fiml, or None when ``auto`` decides."""
        if self.missing is not None:
            return self.missing
        return None if self.estimator == "auto" else "listwise"


class MediationConfig(_Strict):
    x: str
    m: list[str]
    y: str
    moderator: str | None = None
    covariates: list[str] = Field(default_factory=list)
    n_boot: int = Field(5000, ge=100)

    @field_validator("m", mode="before")
    @classmethod
    def _one_m(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class ScoreCorrectionConfig(_Strict):
    """Regression calibration of aggregated scores in a unit-level model
    (:mod:`pipeline.models.calibration`): reported beside the uncorrected model; ``headline:
    true`` makes the corrected fit the model's coefficients."""

    method: Literal["latent", "measurement"] = "latent"
    headline: bool = False
    small_sample: bool = True  # second-order bias adjustment of the true variance (calibration.py)


class ModelConfig(_Strict):
    name: str
    formula: str
    level: Literal["unit", "respondent"] = "unit"
    family: Literal["gaussian", "poisson", "negbin", "logit"] = "gaussian"
    se: Literal["classical", "hc3", "cluster", "cr1", "cr2", "wild"] = "classical"
    cluster: str | None = None
    focal: str | None = None
    moderator: str | None = None
    random: str | None = None
    center: list[str] = Field(default_factory=list)
    standardize: list[str] = Field(default_factory=list)
    weight: str | None = None
    mediation: MediationConfig | None = None
    ddf: Literal["satterthwaite", "kenward-roger"] = "satterthwaite"  # random-intercept lmer t tests
    score_correction: ScoreCorrectionConfig | Literal[False] = Field(
        default_factory=ScoreCorrectionConfig)

    @field_validator("score_correction", mode="before")
    @classmethod
    def _correction_or_false(cls, v: Any) -> Any:
        if v is None or v is True:
            return ScoreCorrectionConfig()
        if isinstance(v, str) and v in ("latent", "measurement"):
            return ScoreCorrectionConfig(method=v)
        if v is False or isinstance(v, (dict, ScoreCorrectionConfig)):
            return v
        raise ValueError("write score_correction: {method: latent, headline: false} (or "
                         "method: measurement), or score_correction: false to fit the "
                         "uncorrected model only")

    @field_validator("center", "standardize", mode="before")
    @classmethod
    def _one_name(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("formula")
    @classmethod
    def _has_tilde(cls, v: str) -> str:
        if "~" not in v:
            raise ValueError("a formula needs an outcome, '~' and predictors, e.g. "
                             "'new_products ~ degree * social_capital'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "ModelConfig":
        if self.se in ("cluster", "cr1", "cr2", "wild") and not self.cluster:
            raise ValueError(f"se: {self.se} needs 'cluster:' naming the column that defines the "
                             "clusters (e.g. cluster: cluster)")
        if (self.focal is None) != (self.moderator is None):
            raise ValueError("give both 'focal' and 'moderator' (for simple slopes and "
                             "Johnson-Neyman), or neither")
        return self


class AnalysisConfig(_Strict):
    efa: EFAConfig | Literal[False] = Field(default_factory=EFAConfig)  # false: no EFA
    cfa: CFAConfig | Literal[True, False] = True  # true: ML + listwise (lavaan::cfa's default); false: none
    invariance: bool | str = False  # true: across survey.group; a column name: across that column
    models: list[ModelConfig] = Field(default_factory=list)

    @field_validator("efa", mode="before")
    @classmethod
    def _efa_or_false(cls, v: Any) -> Any:
        if v is None or v is True:  # efa: true is the default EFA
            return EFAConfig()
        if v is False or isinstance(v, (dict, EFAConfig)):
            return v
        raise ValueError("write efa: {n_factors: auto, method: ml, rotation: oblimin}, or "
                         "efa: false to skip the exploratory factor analysis")

    @field_validator("cfa", mode="before")
    @classmethod
    def _cfa_or_bool(cls, v: Any) -> Any:
        if v is None:
            return True
        if isinstance(v, (bool, dict, CFAConfig)):
            return v
        if isinstance(v, str) and v.strip().lower() in ("ml", "mlr", "wlsmv", "auto"):
            raise ValueError(f"write cfa: {{estimator: {v.strip().lower()}}} (a mapping), or "
                             "cfa: true for ML with listwise deletion")
        raise ValueError("write cfa: true (ML, listwise: lavaan::cfa's default), cfa: false to "
                         "skip the CFA, or cfa: {estimator: ml|mlr|wlsmv|auto, "
                         "missing: listwise|fiml, cluster: COLUMN}")

    @property
    def cfa_settings(self) -> CFAConfig | None:
        """The CFA options (``cfa: true`` = the defaults), None with ``cfa: false``."""
        if self.cfa is False:
            return None
        return CFAConfig() if self.cfa is True else self.cfa

    @model_validator(mode="after")
    def _unique_names(self) -> "AnalysisConfig":
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dup)}")
        return self


#: SimulationSpec parameters a `power: simulation:` mapping may set (pipeline/simulate.py), and
#: the power module's own: cluster_share (the share of the between-firm social-capital variance
#: that lies between clusters), outcome_sd (gaussian outcomes), theta (negbin outcomes)
POWER_SIMULATION_KEYS = ("b0", "b_degree", "b_sc", "b_size", "ties_within", "ties_across",
                         "delta_sc_ties", "p_service", "p_university", "p_government",
                         "weight_mean", "employees_log_mean", "employees_log_sd",
                         "missing_share", "cluster_share", "outcome_sd", "theta")


_SIMULATION_RANGES = {
    "cluster_share": (0, 1, "between 0 and 1"),
    "missing_share": (0, 1, "at least 0 and below 1"),
    "p_service": (0, 1, "at least 0 and below 1"),
    "p_university": (0, 1, "at least 0 and below 1"),
    "p_government": (0, 1, "at least 0 and below 1"),
    "outcome_sd": (0, None, "above 0"), "theta": (0, None, "above 0"),
    "weight_mean": (0, None, "at least 0"), "employees_log_sd": (0, None, "above 0"),
    "ties_within": (0, None, "at least 0"), "ties_across": (0, None, "at least 0"),
}


def _as_list(v: Any) -> Any:
    """A scalar, a list, or a comma-separated text ("8, 12") as a list."""
    if isinstance(v, str):
        parts = [p.strip() for p in v.split(",")]
        if not all(parts):
            raise ValueError("write the values separated by commas, e.g. 8, 12, 16")
        return parts
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [v]
    return v


class PowerConfig(_Strict):
    """``power:`` -- the design grid and settings of `socap power` (pipeline/power.py).

    Each grid key takes one value or a list; the grid is every combination."""

    clusters: list[int] = Field(default_factory=lambda: [12])
    firms_per_cluster: list[int] = Field(default_factory=lambda: [25])
    respondents_per_firm: list[float] = Field(default_factory=lambda: [5.0])
    effect: list[float] = Field(default_factory=lambda: [0.15])
    icc: list[float] = Field(default_factory=lambda: [0.40])
    reliability: list[float] = Field(default_factory=lambda: [0.80])
    replications: int = 500
    target: float = 0.80
    alpha: float = 0.05
    model: str | None = None  # the model of analysis.models to plan for (default: the first)
    simulation: dict[str, float] = Field(default_factory=dict)

    @field_validator("clusters", "firms_per_cluster", "respondents_per_firm", "effect", "icc",
                     "reliability", mode="before")
    @classmethod
    def _listed(cls, v: Any) -> Any:
        v = _as_list(v)
        if isinstance(v, list) and not v:
            raise ValueError("give at least one value, e.g. [8, 12]")
        if isinstance(v, list) and any(isinstance(x, bool) for x in v):
            raise ValueError("give numbers, not true/false")
        return v

    @field_validator("clusters")
    @classmethod
    def _clusters(cls, v: list[int]) -> list[int]:
        if any(x < 2 for x in v):
            raise ValueError("needs at least 2 clusters per design (cluster-robust standard "
                             f"errors and ICCs need several), got {min(v)}")
        return sorted(set(v))

    @field_validator("firms_per_cluster")
    @classmethod
    def _firms(cls, v: list[int]) -> list[int]:
        if any(x < 2 for x in v):
            raise ValueError(f"needs at least 2 firms per cluster, got {min(v)}")
        return sorted(set(v))

    @field_validator("respondents_per_firm")
    @classmethod
    def _respondents(cls, v: list[float]) -> list[float]:
        if any(x < 1 for x in v):
            raise ValueError("respondents per firm (the mean; every firm has at least one) "
                             f"must be at least 1, got {min(v)}")
        return sorted(set(v))

    @field_validator("effect")
    @classmethod
    def _effects(cls, v: list[float]) -> list[float]:
        return sorted(set(v))

    @field_validator("icc", "reliability")
    @classmethod
    def _share(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0 < x < 1]
        if bad:
            raise ValueError(f"must lie strictly between 0 and 1, got {bad[0]}")
        return sorted(set(v))

    @field_validator("replications", mode="before")
    @classmethod
    def _replications(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError("give the number of simulated studies per design, a whole number "
                             "of at least 1 (e.g. replications: 500)")
        return v

    @field_validator("target", "alpha", mode="before")
    @classmethod
    def _probability(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
            raise ValueError("must be a probability strictly between 0 and 1 (e.g. target: "
                             "0.80, alpha: 0.05)")
        return v

    @field_validator("simulation", mode="before")
    @classmethod
    def _simulation(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError("write a mapping of simulation parameters, e.g. "
                             "simulation: {b_degree: 0.3, b_sc: 0.2}")
        for key, value in v.items():
            if key not in POWER_SIMULATION_KEYS:
                hint = did_you_mean(str(key), POWER_SIMULATION_KEYS)
                hint = f" ({hint})" if hint.startswith("did") else ""
                raise ValueError(f"unknown simulation parameter '{key}'{hint}; valid: "
                                 + ", ".join(POWER_SIMULATION_KEYS))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"simulation: {key} must be a number, not {value!r}")
            low, high, what = _SIMULATION_RANGES.get(key, (None, None, ""))
            if (low is not None and value < low) or (high is not None and value > high) or (
                    what.endswith("below 1") and value >= 1) or (what == "above 0" and value <= 0):
                raise ValueError(f"simulation: {key} must be {what}, not {value}")
        return v


class StudyConfig(_Strict):
    title: str
    instrument: str
    survey: SurveyConfig = Field(default_factory=SurveyConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    units: UnitsConfig | None = None
    network: NetworkConfig | None = None
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    power: PowerConfig | None = None  # `socap power`: the design grid (pipeline/power.py)
    seed: int = 1

    @field_validator("scoring", mode="before")
    @classmethod
    def _scoring_word(cls, v: Any) -> Any:
        return {"method": v} if isinstance(v, str) else v


class Study(BaseModel):
    """A loaded study: its folder, its validated config, and resolved paths."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    folder: Path
    file: Path
    config: StudyConfig
    raw: dict

    def path(self, relative: str | Path) -> Path:
        """A path from study.yaml, resolved against the study folder."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.folder / p)

    @property
    def raw_dir(self) -> Path:
        return self.folder / "data" / "raw"

    @property
    def processed_dir(self) -> Path:
        return self.folder / "data" / "processed"

    @property
    def reports_dir(self) -> Path:
        return self.folder / "reports"


# --------------------------------------------------------------------------------------------
# pydantic errors -> readable problems


def _model_at(loc: tuple, model: type[BaseModel] = StudyConfig) -> type[BaseModel] | None:
    """The pydantic model class that holds the key at ``loc`` (None when not a model)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return current
        current = _unwrap_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _clean_loc(loc: tuple) -> tuple:
    # pydantic adds union-branch tags such as 'str' or 'literal[...]' and validator names
    model_fields_seen: list = []
    current: Any = StudyConfig
    for part in loc:
        if isinstance(part, int):
            model_fields_seen.append(part)
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            if (part == current.__name__ or part.startswith("literal[")
                    or part.startswith("function-")):
                continue  # a union's branch tag (efa: EFAConfig | false)
            if part in current.model_fields:
                model_fields_seen.append(part)
                current = _unwrap_model(current.model_fields[part].annotation) or current.model_fields[part].annotation
                continue
            model_fields_seen.append(part)
            current = None
        # otherwise a branch tag: skip
    return tuple(model_fields_seen)


_FIXES = {
    "instrument": "point it at the instrument file, e.g. instrument: instruments/social_capital.yaml",
    "title": "add a title, e.g. title: \"Ota ward manufacturing survey 2026\"",
}


_VALUE_FIXES = {
    "power": "correct the value as the message says; README 'Planning a survey: socap power' "
             "describes every key of power:",
}


def _problems_from(exc: ValidationError, file: str, lines: dict, raw: dict) -> ProblemList:
    problems = ProblemList()
    seen = set()
    errors = exc.errors()
    # a value written as a mapping failed the model of a union (efa: EFAConfig | false): the
    # other branches' complaints ('not false') say nothing useful
    as_model = {_clean_loc(tuple(e["loc"]))[:-1] for e in errors
                if not any(isinstance(p, str) and p.startswith("literal[") for p in e["loc"])}
    errors = [e for e in errors if not (
        any(isinstance(p, str) and p.startswith("literal[") for p in e["loc"])
        and isinstance(e.get("input"), dict)
        and any(m[:len(_clean_loc(tuple(e["loc"])))] == _clean_loc(tuple(e["loc"]))
                for m in as_model))]
    for err in errors:
        loc = _clean_loc(tuple(err["loc"]))
        if loc[:1] == ("scoring",) and not isinstance(raw.get("scoring"), dict):
            loc = ("scoring",)  # written as `scoring: mean`, validated as scoring.method
        key = dotted(loc)
        kind = err["type"]
        line = None
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        if kind == "extra_forbidden":
            parent = _model_at(loc[:-1])
            options = list(parent.model_fields) if parent else []
            msg = f"unknown key '{loc[-1]}'"
            hint = did_you_mean(str(loc[-1]), options)
            fix = f"{hint[0].upper()}{hint[1:]}" if hint else "remove it"
            if options and not hint.startswith("valid"):
                fix += f" Valid keys here: {', '.join(options)}."
        elif kind == "missing":
            msg = f"the required key '{loc[-1]}' is missing"
            fix = _FIXES.get(str(loc[-1]), f"add '{loc[-1]}:' (see the commented study.yaml "
                             "that `socap init` writes)")
        elif kind in ("literal_error", "enum"):
            expected = err.get("ctx", {}).get("expected", "")
            msg = f"'{err.get('input')}' is not a valid value"
            fix = f"use one of {expected}"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            msg, _, fix = msg.partition(" Fix: ")  # a validator's own fix
            fix = fix or None
            value = err.get("input")
            if value is not None and not isinstance(value, (dict, list)) and str(value) not in msg:
                msg = f"{msg} (got {value!r})"
            fix = fix or (_VALUE_FIXES.get(str(loc[0])) if loc else None)
        # a value that failed every branch of a union yields several errors: keep one per key
        sig = (key, kind if kind in ("extra_forbidden", "missing") else "value")
        if sig in seen:
            continue
        seen.add(sig)
        problems.add(msg, file=file, key=key or None, line=line, fix=fix)
    return problems


def find_study_file(folder: Path | str | None) -> Path:
    """The study.yaml for a folder argument (or a direct path to a .yaml file)."""
    target = Path(folder) if folder is not None else Path.cwd()
    if target.is_file() or target.suffix.lower() in (".yaml", ".yml"):
        return target
    return target / STUDY_FILE


def read_study(folder: Path | str | None = None) -> Study:
    """Read and validate a study's ``study.yaml``.

    Parameters
    ----------
    folder
        The study folder (default: the current folder), or the path of a study .yaml file.

    Raises
    ------
    StudyError
        No study.yaml, invalid YAML, or invalid keys/values (all reported at once).
    """
    file = find_study_file(folder)
    if not file.exists():
        where = file.parent
        raise StudyError(
            f"no {file.name} in {where.resolve() if where.exists() else where}",
            file=file,
            fix=("run socap in a study folder, give the folder (socap run path/to/study), "
                 "or create one with `socap init DIR`"),
        )
    data, lines = read_yaml(file, "study file")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StudyError("study.yaml must be a mapping of keys (title:, instrument:, survey: ...)",
                         file=file, fix="start from the study.yaml that `socap init` writes")
    try:
        config = StudyConfig.model_validate(data)
    except ValidationError as exc:
        _problems_from(exc, str(file), lines, data).raise_if_any(f"The study file {file} has problems:")
        raise  # pragma: no cover - raise_if_any always raises here
    return Study(folder=file.parent.resolve(), file=file.resolve(), config=config, raw=data)


def relative_path(path: Path, folder: Path) -> str:
    """``path`` as shown to users and recorded in results.json: relative to ``folder`` (the
    study folder, or the working directory), with '/' separators; as given when it lies on
    another drive."""
    import os  # noqa: PLC0415

    try:
        return Path(os.path.relpath(Path(path).resolve(), folder)).as_posix()
    except ValueError:
        return str(path)
