# Reference values for pipeline.measure.cfa.score_reliability: the reliability of respondent-level
# construct scores under the fitted CFA (the second-order social-capital model on
# tests/reference/data/cfa_socap.csv, lavaan defaults).
#  - mean scores: semTools::compRelSEM(obs.var = FALSE) -- omega with the model-implied variance of
#    the item sum (each construct has four items, so the higher-order factor's omega over all
#    items is the reliability of the mean of the constructs' means);
#  - regression factor scores: the squared factor determinacy, var(A y) / Phi_jj with lavaan's
#    factor-score matrix A = lavPredict(fit, fsm = TRUE), the implied item covariance and
#    cov.lv -- and the empirical variance of the lavPredict() scores as a check of A.
# Output: tests/reference/score_reliability.json
source("tests/reference/cfa_common.R")
d <- read.csv("tests/reference/data/cfa_socap.csv")
model <- "
coordination =~ coordination_1 + coordination_2 + coordination_3 + coordination_4
cooperation  =~ cooperation_1 + cooperation_2 + cooperation_3 + cooperation_4
reciprocity  =~ reciprocity_1 + reciprocity_2 + reciprocity_3 + reciprocity_4
trust        =~ trust_1 + trust_2 + trust_3 + trust_4
social_capital =~ coordination + cooperation + reciprocity + trust
"
fit <- cfa(model, data = d)
omega <- compRelSEM(fit, obs.var = FALSE, higher = "social_capital")
fs <- lavPredict(fit, method = "regression", fsm = TRUE)
A <- attr(fs, "fsm")[[1]]                      # latents x items
sigma <- lavInspect(fit, "implied")$cov
phi <- lavInspect(fit, "cov.lv")
A <- A[, colnames(sigma)]
score_var <- diag(A %*% sigma %*% t(A))
out <- list(
  mean = as.list(omega),
  factor = as.list(score_var / diag(phi)[rownames(A)]),
  factor_score_variance = as.list(score_var),
  factor_score_empirical_variance = as.list(apply(fs, 2, var) * (nrow(fs) - 1) / nrow(fs))
)
write_fixture(out, "tests/reference/score_reliability.json")
