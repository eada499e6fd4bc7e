# Reference values for pipeline.report.derived: what the report adds to results["cfa"] from the
# fitted model -- loading z, p and Wald 95% CI (parameterEstimates), indicator R-squared
# (lavInspect "r2") and residual correlations (residuals(type = "cor"), Bollen's definition) --
# on the second-order model of tests/reference/data/cfa_socap.csv (written by cfa_socap.R).
# Output: tests/reference/report_cfa.json
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
pe <- parameterEstimates(fit)
pe <- pe[pe$op == "=~", c("lhs", "rhs", "est", "se", "z", "pvalue", "ci.lower", "ci.upper")]
r2 <- lavInspect(fit, "r2")
res <- residuals(fit, type = "cor")$cov
out <- list(
  lavaan = as.character(packageVersion("lavaan")),
  loadings = pe,
  r2 = as.list(r2[grepl("_", names(r2))]),
  residual_cor = unclass(res),
  items = rownames(res)
)
write_fixture(out, "tests/reference/report_cfa.json")
