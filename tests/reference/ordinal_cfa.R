# Reference values for pipeline.measure.sem.ordinal (WLSMV CFA on ordered items, lavaan 0.6 defaults:
# estimator = "WLSMV" = DWLS + robust.sem SEs + scaled.shifted test, delta parameterisation,
# missing = "listwise"; and missing = "pairwise").
# Data:
#  * tests/reference/data/hs_ordinal.csv -- lavaan's HolzingerSwineford1939 x1..x9 cut into ordered
#    categories by a fixed rule (x1-x3: 4 categories at the 20/50/80% quantiles; x4-x9: 5
#    categories at the 10/30/60/85% quantiles), written by this script;
#  * tests/reference/data/hs_ordinal_missing.csv -- the same with ~8% of cells set missing (seeded);
#  * tests/reference/data/cfa_socap.csv -- the simulated 5-point social-capital instrument
#    (cfa_socap.R), second-order model.
# Output: tests/reference/ordinal_cfa.json.   Run from the repository root.
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})
hs <- lavaan::HolzingerSwineford1939
cut_q <- function(x, probs) findInterval(x, quantile(x, probs, type = 7), left.open = TRUE) + 1L
d <- data.frame(id = hs$id)
for (v in c("x1", "x2", "x3")) d[[v]] <- cut_q(hs[[v]], c(.2, .5, .8))
for (v in paste0("x", 4:9)) d[[v]] <- cut_q(hs[[v]], c(.1, .3, .6, .85))
write.csv(d, "tests/reference/data/hs_ordinal.csv", row.names = FALSE)
set.seed(1939)
dm <- d
for (v in paste0("x", 1:9)) dm[[v]][runif(nrow(dm)) < .08] <- NA
write.csv(dm, "tests/reference/data/hs_ordinal_missing.csv", row.names = FALSE, na = "")

dump <- function(fit, gamma_full = TRUE) {
  ss <- lavInspect(fit, "sampstat")
  pe <- parameterEstimates(fit)
  st <- standardizedSolution(fit)
  pe$std <- st$est.std
  pe$std_se <- st$se
  pe <- pe[, c("lhs", "op", "rhs", "est", "se", "std", "std_se")]
  fm <- fitMeasures(fit)
  g <- lavInspect(fit, "gamma")
  catml <- lavaan:::lav_fit_catml_dwls(fit)
  out <- list(
    ntotal = lavInspect(fit, "ntotal"),
    th = as.list(setNames(as.numeric(ss$th), names(ss$th))),
    cor = unname(ss$cov),
    items = colnames(ss$cov),
    gamma_diag = as.numeric(diag(g)),
    params = pe,
    fit = as.list(setNames(as.numeric(fm), names(fm))),
    catml = lapply(catml, as.numeric),
    shift_parameter = fit@test$scaled.shifted$shift.parameter,
    scaling_factor = fit@test$scaled.shifted$scaling.factor
  )
  if (gamma_full) out$gamma <- unname(g)
  out
}
hs_model <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
it <- paste0("x", 1:9)
fit_hs <- cfa(hs_model, data = d, ordered = it, estimator = "WLSMV")
fit_hs_pw <- cfa(hs_model, data = dm, ordered = it, estimator = "WLSMV", missing = "pairwise")
fit_hs_lw <- cfa(hs_model, data = dm, ordered = it, estimator = "WLSMV")

s <- read.csv("tests/reference/data/cfa_socap.csv")
socap_model <- "
coordination =~ coordination_1 + coordination_2 + coordination_3 + coordination_4
cooperation  =~ cooperation_1 + cooperation_2 + cooperation_3 + cooperation_4
reciprocity  =~ reciprocity_1 + reciprocity_2 + reciprocity_3 + reciprocity_4
trust        =~ trust_1 + trust_2 + trust_3 + trust_4
social_capital =~ coordination + cooperation + reciprocity + trust"
si <- setdiff(names(s), "id")
fit_so <- cfa(socap_model, data = s, ordered = si, estimator = "WLSMV")
fit_so_ml <- cfa(socap_model, data = s)

out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  hs = dump(fit_hs),
  hs_pairwise = dump(fit_hs_pw),
  hs_listwise = dump(fit_hs_lw),
  socap = dump(fit_so, gamma_full = FALSE),
  socap_ml_mean_std_loading = mean(standardizedSolution(fit_so_ml)$est.std[
    standardizedSolution(fit_so_ml)$op == "=~" & !(standardizedSolution(fit_so_ml)$rhs %in%
      c("coordination", "cooperation", "reciprocity", "trust"))])
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"), "tests/reference/ordinal_cfa.json")
