# Reference values for the CFA's local fit (issue 19 B): residual correlations
# (residuals(fit, type = "cor")$cov: observed minus model-implied correlations, Bollen's
# definition, lavaan's default) and the modification indices sorted by size
# (modindices(fit, sort. = TRUE): mi, epc, sepc.all), on
#   hs        Holzinger & Swineford (1939), three correlated factors (lavaan's classic example;
#             tests/reference/data/holzinger1939.csv = lavaan::HolzingerSwineford1939);
#   hs_higher the same with a second-order factor g =~ visual + textual + speed;
#   example   the bundled example study (socap run in the repository root): its cleaned,
#             reverse-keyed answers to the 20 items (tests/reference/data/example_items.csv,
#             written from data/processed/responses.parquet), four constructs under the
#             second-order factor social_capital, listwise-complete rows as socap's CFA.
# Output: tests/reference/cfa_local_fit.json
source("tests/reference/cfa_common.R")
source("tests/reference/invariance_helpers.R")
hs <- read.csv("tests/reference/data/holzinger1939.csv")
ex <- read.csv("tests/reference/data/example_items.csv")
hs_first <- list(visual = paste0("x", 1:3), textual = paste0("x", 4:6), speed = paste0("x", 7:9))
ex_first <- list(coordination = paste0("coord_", 1:5), cooperation = paste0("coop_", 1:5),
                 reciprocity = paste0("recip_", 1:5), trust = paste0("trust_", 1:5))
cases <- list(
  hs = list(first = hs_first, higher = list(), d = hs),
  hs_higher = list(first = hs_first, higher = list(g = names(hs_first)), d = hs),
  example = list(first = ex_first, higher = list(social_capital = names(ex_first)), d = ex)
)
out <- list(lavaan = as.character(packageVersion("lavaan")))
for (name in names(cases)) {
  cs <- cases[[name]]
  fit <- cfa(model_syntax(cs$first, cs$higher), data = cs$d)
  res <- residuals(fit, type = "cor")$cov
  out[[name]] <- list(
    n = lavInspect(fit, "nobs"),
    items = rownames(res),
    residual_cor = unclass(res),
    modindices = dump_modindices(fit, top = 60)
  )
}
write_fixture(out, "tests/reference/cfa_local_fit.json")
