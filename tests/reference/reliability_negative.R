# Generates tests/reference/data/negative_items.csv (four 1-5 items, two of them correlating
# negatively with the others and one barely related: a scale left unreversed) and its
# reliability fixture. psych::alpha takes sqrt() of a negative sum for r.cor and returns NaN
# with the warning "NaNs produced"; socap must do the same (issue 17: it crashed with
# "math domain error").
# Run from the repository root: Rscript tests/reference/reliability_negative.R
source("tests/reference/reliability_helpers.R")
set.seed(17)
n <- 300
f <- rnorm(n)
likert <- function(z) round(pmin(pmax(z, 1), 5))
d <- data.frame(
  a = likert(3 + 0.9 * f + rnorm(n)),
  b = likert(3 - 0.9 * f + rnorm(n)),
  c = likert(3 + 0.1 * f + rnorm(n)),
  e = likert(3 - 0.8 * f + rnorm(n))
)
write.csv(d, "tests/reference/data/negative_items.csv", row.names = FALSE, na = "")
d <- read.csv("tests/reference/data/negative_items.csv")
RC <- cor(d)
diag(RC) <- smc(cor(d))
out <- list(
  data = "tests/reference/data/negative_items.csv",
  psych = as.character(packageVersion("psych")),
  sum_r_smc = sum(RC),
  moments = moments_of(d),
  scales = list(unreversed = scale_stats(d, c("a", "b", "c", "e")))
)
write_fixture(out, "tests/reference/reliability_negative.json")
