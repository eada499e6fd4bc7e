# Generates tests/reference/data/mixed_scales.csv (a synthetic survey with constructs on different
# scales, a reverse-worded item, a constant item, missing values) and its reliability fixture.
# Run from the repository root: Rscript tests/reference/reliability_mixed.R
# (efa_mixed.R reads the csv written here.)
source("tests/reference/reliability_helpers.R")
set.seed(20261125)
n <- 500
# latent constructs: trust, cooperation, hostility, network; correlated
Phi <- matrix(c(1, .40, -.30, .25,
                .40, 1, -.20, .30,
                -.30, -.20, 1, -.10,
                .25, .30, -.10, 1), 4)
F <- matrix(rnorm(n * 4), n) %*% chol(Phi)
item <- function(f, lambda, cuts) {
  z <- lambda * f + sqrt(1 - lambda^2) * rnorm(length(f))
  findInterval(z, cuts)
}
likert5 <- c(-1.6, -0.6, 0.3, 1.2)            # -> 0..4, shifted to 1..5 below
likert7 <- c(-1.8, -1.1, -0.4, 0.3, 1.0, 1.7)   # -> 0..6, shifted to 1..7 below
d <- data.frame(
  trust_1 = item(F[, 1], .80, likert5) + 1,
  trust_2 = item(F[, 1], .75, likert5) + 1,
  trust_3 = item(F[, 1], .70, likert5) + 1,
  trust_4 = item(F[, 1], .60, likert5) + 1,
  trust_5r = item(-F[, 1], .65, likert5) + 1,  # reverse-worded, left unreversed in the csv
  coop_1 = item(F[, 2], .75, likert5),          # 0-4 scale
  coop_2 = item(F[, 2], .70, likert5),
  coop_3 = item(F[, 2], .65, likert5),
  coop_4 = item(F[, 2], .55, likert5),
  coop_5 = 2,                                   # constant: every answer the same
  host_1 = item(F[, 3], .80, likert7) + 1,      # 1-7 scale
  host_2 = item(F[, 3], .75, likert7) + 1,
  host_3 = item(F[, 3], .70, likert7) + 1,
  host_4 = item(F[, 3], .60, likert7) + 1,
  net_1 = item(F[, 4], .70, likert5) + 1,       # a two-item construct
  net_2 = item(F[, 4], .70, likert5) + 1,
  satisfaction = item(F[, 1] * .5 + F[, 2] * .5, .60, likert5) + 1  # a one-item construct
)
# missing values: 5% MCAR everywhere, 35% on host_2, net items missing for rows 1-40,
# and rows 41-45 missing every item
miss <- matrix(runif(n * ncol(d)) < .05, n)
d[miss] <- NA
d$host_2[runif(n) < .35] <- NA
d[1:40, c("net_1", "net_2")] <- NA
d[41:45, ] <- NA
write.csv(d, "tests/reference/data/mixed_scales.csv", row.names = FALSE, na = "")

d <- read.csv("tests/reference/data/mixed_scales.csv")
keyed <- d
keyed$trust_5r <- 6 - keyed$trust_5r
scales <- list(
  trust_raw = c("trust_1", "trust_2", "trust_3", "trust_4", "trust_5r"),
  cooperation = c("coop_1", "coop_2", "coop_3", "coop_4", "coop_5"),
  hostility = c("host_1", "host_2", "host_3", "host_4"),
  network = c("net_1", "net_2"),
  satisfaction = "satisfaction"
)
out <- list(
  data = "tests/reference/data/mixed_scales.csv",
  psych = as.character(packageVersion("psych")),
  moments = moments_of(d),
  scales = lapply(scales, function(it) scale_stats(d, it)),
  keyed = list(trust = scale_stats(keyed, scales$trust_raw))
)
write_fixture(out, "tests/reference/reliability_mixed.json")
