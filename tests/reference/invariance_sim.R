# Reference values for pipeline.measure.cfa.measurement_invariance on simulated two-region surveys
# (seeded): 7-point answers to trust_1..4 and coop_1..4 in regions "north" (n = 500) and
# "south" (n = 450), with south's latent means shifted (trust +0.3, cooperation -0.2). Three
# scenarios, all written to tests/reference/data/invariance_sim.csv (column `scenario`):
#   invariant  - identical loadings and intercepts in both regions;
#   intercept  - trust_3's intercept is 0.7 higher in the south (scalar non-invariance);
#   loading    - coop_2's loading is 0.80 in the north but 0.25 in the south (metric non-invariance).
# For each: configural / metric / scalar fits (lavaan::cfa(group = "region", group.equal = ...)),
# the chi-square difference tests and the univariate score tests (lavTestScore); for the two
# non-invariant scenarios also the partial models that free the simulated non-invariant parameter
# (group.partial = "trust_3~1" in the scalar model; "cooperation=~coop_2" in metric and scalar),
# and a three-group version of the intercept scenario (north split into north / east).
# Output: tests/reference/invariance_sim.json
source("tests/reference/cfa_common.R")
set.seed(5150)
simulate_region <- function(n, region, mean_shift, lam, tau) {
  f <- MASS::mvrnorm(n, mu = mean_shift, Sigma = matrix(c(1, .4, .4, 1), 2))
  cuts <- c(-2.2, -1.4, -0.6, 0.2, 1.0, 1.8)
  out <- data.frame(region = rep(region, n))
  items <- c(paste0("trust_", 1:4), paste0("coop_", 1:4))
  for (j in 1:8) {
    eta <- f[, if (j <= 4) 1 else 2]
    y <- tau[j] + lam[j] * eta + rnorm(n, sd = 0.6)
    out[[items[j]]] <- findInterval(y, cuts) + 1
  }
  out
}
lam0 <- c(.80, .70, .75, .65, .80, .80, .70, .60)
tau0 <- rep(0, 8)
scen <- list(
  invariant = list(lam = lam0, tau = tau0),
  intercept = list(lam = lam0, tau = replace(tau0, 3, 0.7)),
  loading = list(lam = replace(lam0, 6, 0.25), tau = tau0)
)
all <- NULL
for (s in names(scen)) {
  north <- simulate_region(500, "north", c(0, 0), lam0, tau0)
  south <- simulate_region(450, "south", c(.3, -.2), scen[[s]]$lam, scen[[s]]$tau)
  all <- rbind(all, cbind(scenario = s, rbind(north, south)))
}
write.csv(all, "tests/reference/data/invariance_sim.csv", row.names = FALSE)

all <- read.csv("tests/reference/data/invariance_sim.csv")
model <- "
trust       =~ trust_1 + trust_2 + trust_3 + trust_4
cooperation =~ coop_1 + coop_2 + coop_3 + coop_4
"
out <- list()
for (s in names(scen)) {
  d <- all[all$scenario == s, ]
  configural <- cfa(model, data = d, group = "region")
  metric <- cfa(model, data = d, group = "region", group.equal = "loadings")
  scalar <- cfa(model, data = d, group = "region", group.equal = c("loadings", "intercepts"))
  lrt <- lavTestLRT(configural, metric, scalar)
  partial <- list()
  if (s == "intercept") {
    ps <- cfa(model, data = d, group = "region", group.equal = c("loadings", "intercepts"),
              group.partial = "trust_3~1")
    partial$scalar <- list(fit = dump_fit(ps), score = dump_score_tests(ps))
  }
  if (s == "loading") {
    pm <- cfa(model, data = d, group = "region", group.equal = "loadings",
              group.partial = "cooperation=~coop_2")
    ps <- cfa(model, data = d, group = "region", group.equal = c("loadings", "intercepts"),
              group.partial = "cooperation=~coop_2")
    partial$metric <- list(fit = dump_fit(pm))
    partial$scalar <- list(fit = dump_fit(ps))
  }
  out[[s]] <- list(
    groups = lavInspect(configural, "group.label"),
    nobs = lavInspect(configural, "nobs"),
    configural = list(fit = dump_fit(configural)),
    metric = list(fit = dump_fit(metric), score = dump_score_tests(metric)),
    scalar = list(fit = dump_fit(scalar), score = dump_score_tests(scalar)),
    lrt = list(chisq_diff = lrt[["Chisq diff"]], df_diff = lrt[["Df diff"]],
               p = lrt[["Pr(>Chisq)"]]),
    partial = partial
  )
}
# three groups: the intercept scenario with the north split into north / east by row parity
d3 <- all[all$scenario == "intercept", ]
north <- which(d3$region == "north")
d3$region[north[seq(2, length(north), by = 2)]] <- "east"
c3 <- cfa(model, data = d3, group = "region")
m3 <- cfa(model, data = d3, group = "region", group.equal = "loadings")
s3 <- cfa(model, data = d3, group = "region", group.equal = c("loadings", "intercepts"))
out$three_groups <- list(
  groups = lavInspect(c3, "group.label"), nobs = lavInspect(c3, "nobs"),
  configural = list(fit = dump_fit(c3)),
  metric = list(fit = dump_fit(m3), score = dump_score_tests(m3)),
  scalar = list(fit = dump_fit(s3), score = dump_score_tests(s3))
)
write_fixture(out, "tests/reference/invariance_sim.json")
