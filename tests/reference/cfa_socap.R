# Reference values for pipeline.measure.cfa on a simulated social-capital instrument: four first-order
# constructs (coordination, cooperation, reciprocity, trust; four 5-point items each) under a
# second-order factor social_capital. Simulates (seeded) tests/reference/data/cfa_socap.csv, then
# fits the second-order model as lavaan does by default (marker loadings, ML, listwise), the
# first-order model, and a mixed model with trust outside the second-order factor.
# Output: tests/reference/cfa_socap.json
source("tests/reference/cfa_common.R")
set.seed(7141)
n <- 800
gamma <- c(coordination = .80, cooperation = .70, reciprocity = .75, trust = .65)
sc <- rnorm(n)
lambda <- list(coordination = c(.80, .70, .75, .60), cooperation = c(.75, .70, .65, .70),
               reciprocity = c(.70, .80, .60, .65), trust = c(.85, .75, .70, .55))
cuts <- c(-1.5, -0.5, 0.5, 1.4)
d <- data.frame(id = 1:n)
for (k in names(gamma)) {
  eta <- gamma[[k]] * sc + rnorm(n, sd = sqrt(1 - gamma[[k]]^2))
  for (j in 1:4) {
    y <- lambda[[k]][j] * eta + rnorm(n, sd = sqrt(1 - lambda[[k]][j]^2))
    d[[paste0(k, "_", j)]] <- findInterval(y, cuts + rnorm(1, 0, .2)) + 1
  }
}
write.csv(d, "tests/reference/data/cfa_socap.csv", row.names = FALSE)

d <- read.csv("tests/reference/data/cfa_socap.csv")
first <- "
coordination =~ coordination_1 + coordination_2 + coordination_3 + coordination_4
cooperation  =~ cooperation_1 + cooperation_2 + cooperation_3 + cooperation_4
reciprocity  =~ reciprocity_1 + reciprocity_2 + reciprocity_3 + reciprocity_4
trust        =~ trust_1 + trust_2 + trust_3 + trust_4
"
model <- paste(first, "social_capital =~ coordination + cooperation + reciprocity + trust\n")
fit <- cfa(model, data = d)
fit1 <- cfa(first, data = d)
# trust left outside the second-order factor: it covaries with social_capital (exogenous latents)
mixed <- paste(first, "social_capital =~ coordination + cooperation + reciprocity\n")
fitm <- cfa(mixed, data = d)
out <- list(
  n = lavInspect(fit, "nobs"),
  converged = lavInspect(fit, "converged"),
  fit = dump_fit(fit),
  params = dump_params(fit),
  cov_lv = lavInspect(fit, "cor.lv"),
  comp_rel = as.list(compRelSEM(fit, higher = "social_capital")),
  ave = as.list(AVE(fit)),
  htmt = htmt(first, d),
  modindices = dump_modindices(fit),
  scores = lavPredict(fit, method = "regression"),
  first_order = list(
    fit = dump_fit(fit1), params = dump_params(fit1), cov_lv = lavInspect(fit1, "cor.lv"),
    comp_rel = as.list(compRelSEM(fit1)), ave = as.list(AVE(fit1)),
    modindices = dump_modindices(fit1), scores = lavPredict(fit1)
  ),
  mixed = list(
    fit = dump_fit(fitm), params = dump_params(fitm), cov_lv = lavInspect(fitm, "cor.lv"),
    comp_rel = as.list(compRelSEM(fitm, higher = "social_capital")), ave = as.list(AVE(fitm)),
    modindices = dump_modindices(fitm), scores = lavPredict(fitm)
  )
)
write_fixture(out, "tests/reference/cfa_socap.json")
