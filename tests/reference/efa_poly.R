# Reference values for the EFA / parallel analysis on polychoric correlations
# (pipeline.measure.factors.polychoric_moments, study.yaml analysis.efa.correlation: polychoric)
# and for the categorical omega of an ordinal CFA (semTools::compRelSEM on a WLSMV fit).
# Data: tests/reference/data/hs_ordinal.csv (ordinal_cfa.R), hs_ordinal_missing.csv,
# cfa_socap.csv. psych 2.2.9, GPArotation, semTools 0.5, lavaan 0.6.
# Output: tests/reference/efa_poly.json.   Run from the repository root.
suppressPackageStartupMessages({
  library(psych)
  library(GPArotation)
  library(lavaan)
  library(semTools)
  library(jsonlite)
})
one <- function(x, nf) {
  pc <- polychoric(x)
  ml <- fa(x, nfactors = nf, fm = "ml", rotate = "oblimin", cor = "poly")
  mr <- fa(x, nfactors = nf, fm = "minres", rotate = "oblimin", cor = "poly")
  set.seed(1)
  pa <- fa.parallel(x, cor = "poly", fa = "both", n.iter = 20, plot = FALSE)
  list(rho = unname(pc$rho), tau = unname(pc$tau),
       ml = list(loadings = unname(unclass(ml$loadings)), phi = unname(ml$Phi),
                 communality = unname(ml$communality)),
       minres = list(loadings = unname(unclass(mr$loadings)), phi = unname(mr$Phi)),
       pc_values = pa$pc.values, ncomp = pa$ncomp, nfact = pa$nfact)
}
hs <- read.csv("tests/reference/data/hs_ordinal.csv")[, paste0("x", 1:9)]
hsm <- read.csv("tests/reference/data/hs_ordinal_missing.csv")[, paste0("x", 1:9)]
so <- read.csv("tests/reference/data/cfa_socap.csv")
so <- so[, setdiff(names(so), "id")]

hs_model <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
fit_hs <- cfa(hs_model, data = hs, ordered = names(hs), estimator = "WLSMV")
socap_model <- "
coordination =~ coordination_1 + coordination_2 + coordination_3 + coordination_4
cooperation  =~ cooperation_1 + cooperation_2 + cooperation_3 + cooperation_4
reciprocity  =~ reciprocity_1 + reciprocity_2 + reciprocity_3 + reciprocity_4
trust        =~ trust_1 + trust_2 + trust_3 + trust_4
social_capital =~ coordination + cooperation + reciprocity + trust"
fit_so <- cfa(socap_model, data = so, ordered = names(so), estimator = "WLSMV")
# psych::polychoric on all nine HS items differs from the ML polychorics (its own two-item call,
# lavaan's lavCor and socap agree) by up to .03 for pairs with empty cells; the EFA step is
# therefore also checked on lavaan's polychoric matrix.
lav_rho <- unclass(lavCor(hs, ordered = names(hs)))
fa_lav <- fa(lav_rho, nfactors = 3, n.obs = nrow(hs), fm = "ml", rotate = "oblimin")
out <- list(
  hs_on_lavaan_rho = list(loadings = unname(unclass(fa_lav$loadings)), phi = unname(fa_lav$Phi)),
  psych_version = as.character(packageVersion("psych")),
  hs = one(hs, 3), hs_missing = one(hsm, 3), socap = one(so, 4),
  omega_hs = tryCatch(as.list(compRelSEM(fit_hs)), error = function(e) conditionMessage(e)),
  omega_socap_first = tryCatch(as.list(compRelSEM(fit_so)),
                               error = function(e) conditionMessage(e)),
  omega_socap = tryCatch(as.list(compRelSEM(fit_so, higher = "social_capital")),
                         error = function(e) conditionMessage(e)),
  ave_hs = tryCatch(as.list(AVE(fit_hs)), error = function(e) conditionMessage(e))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"), "tests/reference/efa_poly.json")
