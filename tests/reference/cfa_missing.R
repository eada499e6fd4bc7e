# Reference values for pipeline.measure.cfa on survey-like data with missing answers and reverse-keyed items.
# Simulates (seeded) 5-point answers for three constructs, writes the raw export
# tests/reference/data/cfa_missing.csv (reverse-keyed items NOT yet reversed, NA = missing), then
# reverses trust_2, trust_4, coop_3 as 6 - x and fits lavaan::cfa with its default listwise deletion.
# A second fit with missing = "ml" gives lavPredict scores for incomplete rows (conditional
# expectation given the observed items) to check the score formula on rows with gaps.
# Output: tests/reference/cfa_missing.json
source("tests/reference/cfa_common.R")
set.seed(20260311)
n <- 450
f <- MASS::mvrnorm(n, mu = c(0, 0, 0),
                   Sigma = matrix(c(1, .45, .30, .45, 1, .55, .30, .55, 1), 3))
lik <- function(eta, lambda, cut = c(-1.6, -0.6, 0.4, 1.3)) {
  y <- lambda * eta + rnorm(length(eta), sd = sqrt(1 - lambda^2))
  findInterval(y, cut) + 1
}
raw <- data.frame(
  id = sprintf("R%04d", 1:n),
  trust_1 = lik(f[, 1], .75), trust_2 = 6 - lik(f[, 1], .65), trust_3 = lik(f[, 1], .70),
  trust_4 = 6 - lik(f[, 1], .55),
  coop_1 = lik(f[, 2], .80), coop_2 = lik(f[, 2], .70), coop_3 = 6 - lik(f[, 2], .60),
  coop_4 = lik(f[, 2], .65),
  recip_1 = lik(f[, 3], .70), recip_2 = lik(f[, 3], .75), recip_3 = lik(f[, 3], .60)
)
items <- names(raw)[-1]
miss <- matrix(runif(n * length(items)) < 0.025, n)
miss[sample(n, 12), 5:8] <- TRUE        # a block of respondents skipped the cooperation page
for (j in seq_along(items)) raw[miss[, j], items[j]] <- NA
write.csv(raw, "tests/reference/data/cfa_missing.csv", row.names = FALSE, na = "")

d <- read.csv("tests/reference/data/cfa_missing.csv")
for (v in c("trust_2", "trust_4", "coop_3")) d[[v]] <- 6 - d[[v]]
model <- "
trust       =~ trust_1 + trust_2 + trust_3 + trust_4
cooperation =~ coop_1 + coop_2 + coop_3 + coop_4
reciprocity =~ recip_1 + recip_2 + recip_3
"
fit <- cfa(model, data = d)
fit_ml <- cfa(model, data = d, missing = "ml")
est_ml <- lavInspect(fit_ml, "est")
out <- list(
  n = lavInspect(fit, "nobs"),
  n_rows = nrow(d),
  converged = lavInspect(fit, "converged"),
  fit = dump_fit(fit),
  params = dump_params(fit),
  cov_lv = lavInspect(fit, "cor.lv"),
  comp_rel = as.list(compRelSEM(fit)),
  ave = as.list(AVE(fit)),
  htmt = htmt(model, d),
  modindices = dump_modindices(fit),
  complete_rows = which(complete.cases(d[, items])),
  scores = lavPredict(fit, method = "regression"),
  ml = list(
    lambda = est_ml$lambda, psi = est_ml$psi, theta = est_ml$theta,
    nu = as.numeric(est_ml$nu), alpha = as.numeric(est_ml$alpha),
    scores = lavPredict(fit_ml, method = "regression")
  )
)
write_fixture(out, "tests/reference/cfa_missing.json")
