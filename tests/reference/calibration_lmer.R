# Reference values for pipeline.models.calibration (method "latent", no other predictor): with
# n respondents in every unit, the regression-calibrated unit mean is the unit's empirical-Bayes
# prediction from the random-intercept model score ~ 1 + (1 | unit) fitted by REML -- for a
# balanced one-way design REML's variance components are the ANOVA estimates (when positive), so
# lme4's coef(fit)$unit (fixed intercept + BLUP) is mu + tau2 / (tau2 + sigma2 / n) (xbar - mu).
# Simulates tests/reference/data/calibration_units.csv (40 units x 3 respondents) and writes
# tests/reference/calibration_lmer.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
set.seed(2020)
k <- 40; n <- 3
unit <- rep(sprintf("U%02d", 1:k), each = n)
true <- rnorm(k, 3, 0.5)
score <- rep(true, each = n) + rnorm(k * n, 0, 0.8)
d <- data.frame(unit = unit, score = round(score, 4))
write.csv(d, "tests/reference/data/calibration_units.csv", row.names = FALSE)
d <- read.csv("tests/reference/data/calibration_units.csv")
fit <- lmer(score ~ 1 + (1 | unit), data = d, REML = TRUE)
vc <- as.data.frame(VarCorr(fit))
pred <- coef(fit)$unit
out <- list(
  tau2 = vc$vcov[vc$grp == "unit"], sigma2 = vc$vcov[vc$grp == "Residual"],
  units = rownames(pred), calibrated = unname(pred[, 1]),
  means = unname(tapply(d$score, d$unit, mean)[rownames(pred)])
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/reference/calibration_lmer.json")
cat("wrote tests/reference/calibration_lmer.json\n")
