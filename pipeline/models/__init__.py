"""The catalytic-effect models: moderation (simple slopes, Johnson-Neyman, marginal effects),
mediation and random-intercept models, matching R's ``lm``/``glm``/``MASS::glm.nb``/
``sandwich``/``lme4::lmer``.

Modules
-------
formula     R formulas -> design matrices (hand-written: patsy/formulaic cost 0.5-0.85 s to import)
estimation  lm (QR), glm (IRLS), glm.nb (ML theta), HC3 and CR1 sandwich covariances
clustered   CR2 (clubSandwich) with Satterthwaite df, vectorised over clusters
wild        restricted wild cluster bootstrap (WCR; score bootstrap for GLMs), CI by test inversion
mixed       random-intercept REML (lme4::lmer) from group sufficient statistics
moderation  simple slopes, Johnson-Neyman bounds, average marginal effects
mediation   PROCESS models 4 and 7 with a vectorised bootstrap
fit         fit_model() and ModelResult

Only numpy, pandas and scipy.special / scipy.linalg are imported here; scipy.optimize is imported
inside the mixed-model fit.
"""

from pipeline.models.fit import ModelResult, fit_model
from pipeline.models.formula import parse_formula
from pipeline.models.mediation import MediationResult, mediation_effects

__all__ = ["MediationResult", "ModelResult", "fit_model", "mediation_effects", "parse_formula"]
