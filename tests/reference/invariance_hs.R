# Reference values for pipeline.measure.cfa.measurement_invariance on Holzinger & Swineford (1939) by
# school (the classic lavaan example): configural, metric (group.equal = "loadings") and scalar
# (c("loadings", "intercepts")) models, the chi-square difference tests, the univariate score tests
# of the equality constraints (lavTestScore), the partial scalar model freeing the x3 and x7
# intercepts (and the x3 intercept alone), and the scalar model's latent means. Also per-school t-based 95% CIs of the mean of
# x1 (for group_means). Input: tests/reference/data/holzinger1939.csv.
# Output: tests/reference/invariance_hs.json
source("tests/reference/cfa_common.R")
d <- read.csv("tests/reference/data/holzinger1939.csv")
model <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"
configural <- cfa(model, data = d, group = "school")
metric <- cfa(model, data = d, group = "school", group.equal = "loadings")
scalar <- cfa(model, data = d, group = "school", group.equal = c("loadings", "intercepts"))
partial <- cfa(model, data = d, group = "school", group.equal = c("loadings", "intercepts"),
               group.partial = c("x3~1", "x7~1"))
partial_x3 <- cfa(model, data = d, group = "school", group.equal = c("loadings", "intercepts"),
                  group.partial = "x3~1")
lrt <- lavTestLRT(configural, metric, scalar)
pe_means <- function(fit) {
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op == "~1" & pe$lhs %in% c("visual", "textual", "speed"), ]
  pe[, c("lhs", "group", "est", "se", "z", "pvalue", "ci.lower", "ci.upper")]
}
ci_x1 <- lapply(split(d$x1, d$school), function(x) {
  tt <- t.test(x)
  list(n = length(x), mean = mean(x), sd = sd(x), ci = as.numeric(tt$conf.int))
})
out <- list(
  groups = lavInspect(configural, "group.label"),
  nobs = lavInspect(configural, "nobs"),
  configural = list(fit = dump_fit(configural), params = dump_params(configural)),
  metric = list(fit = dump_fit(metric), params = dump_params(metric),
                score = dump_score_tests(metric)),
  scalar = list(fit = dump_fit(scalar), params = dump_params(scalar),
                score = dump_score_tests(scalar), latent_means = pe_means(scalar)),
  partial_x3 = list(fit = dump_fit(partial_x3), score = dump_score_tests(partial_x3)),
  partial_scalar = list(fit = dump_fit(partial), latent_means = pe_means(partial),
                        score = dump_score_tests(partial)),
  lrt = list(chisq_diff = lrt[["Chisq diff"]], df_diff = lrt[["Df diff"]],
             p = lrt[["Pr(>Chisq)"]]),
  x1_by_school = ci_x1
)
write_fixture(out, "tests/reference/invariance_hs.json")
