# Reference values for pipeline.measure.cfa on Holzinger & Swineford (1939), the classic 3-factor CFA.
# Input: tests/reference/data/holzinger1939.csv (semopy.examples.holzinger39.get_data(), identical
# to lavaan::HolzingerSwineford1939). Output: tests/reference/cfa_hs.json
source("tests/reference/cfa_common.R")
d <- read.csv("tests/reference/data/holzinger1939.csv")
model <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"
fit <- cfa(model, data = d)
items <- paste0("x", 1:9)
out <- list(
  lavaan = as.character(packageVersion("lavaan")),
  semTools = as.character(packageVersion("semTools")),
  n = lavInspect(fit, "nobs"),
  converged = lavInspect(fit, "converged"),
  fit = dump_fit(fit),
  params = dump_params(fit),
  cov_lv = lavInspect(fit, "cor.lv"),
  comp_rel = as.list(compRelSEM(fit)),
  ave = as.list(AVE(fit)),
  htmt = htmt(model, d),
  modindices = dump_modindices(fit),
  scores = lavPredict(fit, method = "regression")
)
write_fixture(out, "tests/reference/cfa_hs.json")
