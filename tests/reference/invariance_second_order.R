# Reference values for pipeline.measure.cfa.measurement_invariance on the model the CFA reports
# (issue 19 B): invariance of a second-order model (lavaan's group.equal on it: "loadings"
# constrains first- AND second-order loadings; the scalar model fixes the second-order mean at 0,
# the identified equivalent of lavaan's own, see invariance_helpers.R), and socap's whole
# partial-invariance search (lavTestScore, free the largest significant constraint, refit until
# delta CFI / RMSEA hold) written out in lavaan, step by step. Cases:
#   hs_higher  Holzinger & Swineford (1939) by school, g =~ visual + textual + speed;
#   hs         the same, first-order (correlated factors);
#   example    the bundled example study's cleaned items (example_items.csv) by region (3 groups),
#              four constructs under social_capital;
#   sim_higher simulated (seeded, written to data/invariance_second_order.csv): four factors of
#              three items under a second-order factor sc in two regions (n = 700, 650); in the
#              south reciprocity's second-order loading is .25 instead of .75 and item r_2's
#              intercept is .5 higher: metric fails, partial metric frees sc=~reciprocity;
#   sim_loading the first-order "loading" scenario of invariance_sim.csv (coop_2's loading);
#   sim_higher3 sim_higher in three groups: north split into north / east by row parity (the
#              partial search over two constraints per parameter, lavTestScore's .p. == .p.).
# For the second-order cases, once (partial) scalar invariance holds, the second-order scalar
# model (the constructs' intercepts held at 0, the second-order means free; Chen, Sousa & West
# 2005) against it, and its second-order latent means when it holds.
# Also lavaan's unidentified default scalar model of hs_higher (chisq, df, npar) for the record.
# Output: tests/reference/invariance_second_order.json
source("tests/reference/cfa_common.R")
source("tests/reference/invariance_helpers.R")
set.seed(1919)
sim_group <- function(n, region, gamma, tau, alpha_sc) {
  sc <- rnorm(n, alpha_sc)
  out <- data.frame(region = rep(region, n))
  lam <- c(1, .8, .7)
  for (k in 1:4) {
    f <- gamma[k] * sc + rnorm(n, sd = sqrt(1 - .75^2))
    for (j in 1:3) {
      nm <- paste0(c("c", "o", "r", "t")[k], "_", j)
      out[[nm]] <- tau[[nm]] + lam[j] * f + rnorm(n, sd = .6)
    }
  }
  out
}
items <- as.vector(outer(c("c", "o", "r", "t"), 1:3, paste, sep = "_"))
tau0 <- setNames(as.list(rep(3, 12)), items)
tau1 <- tau0
tau1[["r_2"]] <- 3.5
sim <- rbind(sim_group(700, "north", c(.75, .75, .75, .75), tau0, 0),
             sim_group(650, "south", c(.75, .75, .25, .75), tau1, .3))
sim[items] <- round(sim[items], 3)
write.csv(sim, "tests/reference/data/invariance_second_order.csv", row.names = FALSE)
sim <- read.csv("tests/reference/data/invariance_second_order.csv")

hs <- read.csv("tests/reference/data/holzinger1939.csv")
ex <- read.csv("tests/reference/data/example_items.csv")
ex <- ex[complete.cases(ex), ]
isim <- read.csv("tests/reference/data/invariance_sim.csv")
hs_first <- list(visual = paste0("x", 1:3), textual = paste0("x", 4:6), speed = paste0("x", 7:9))
ex_first <- list(coordination = paste0("coord_", 1:5), cooperation = paste0("coop_", 1:5),
                 reciprocity = paste0("recip_", 1:5), trust = paste0("trust_", 1:5))
sim_first <- list(coordination = paste0("c_", 1:3), cooperation = paste0("o_", 1:3),
                  reciprocity = paste0("r_", 1:3), trust = paste0("t_", 1:3))
out <- list(
  lavaan = as.character(packageVersion("lavaan")),
  hs_higher = invariance_sequence(hs_first, list(g = names(hs_first)), hs, "school"),
  hs = invariance_sequence(hs_first, list(), hs, "school"),
  example = invariance_sequence(ex_first, list(social_capital = names(ex_first)), ex, "region"),
  sim_higher = invariance_sequence(sim_first, list(sc = names(sim_first)), sim, "region"),
  sim_loading = invariance_sequence(
    list(trust = paste0("trust_", 1:4), cooperation = paste0("coop_", 1:4)), list(),
    isim[isim$scenario == "loading", ], "region"),
  sim_higher3 = {
    s3 <- sim
    north <- which(s3$region == "north")
    s3$region[north[seq(2, length(north), by = 2)]] <- "east"
    invariance_sequence(sim_first, list(sc = names(sim_first)), s3, "region")
  }
)
naive <- suppressWarnings(cfa(model_syntax(hs_first, list(g = names(hs_first))), data = hs,
                              group = "school", group.equal = c("loadings", "intercepts")))
out$hs_higher$lavaan_default_scalar <- as.list(fitMeasures(naive, c("chisq", "df", "npar")))
write_fixture(out, "tests/reference/invariance_second_order.json")
