# Reliability fixture on Holzinger & Swineford (1939), as shipped by semopy
# (semopy.examples.holzinger39; identical to lavaan::HolzingerSwineford1939).
# Three 3-item scales of ability tests on different metrics; complete data.
# Run from the repository root: Rscript tests/reference/reliability_hs39.R
source("tests/reference/reliability_helpers.R")
d <- read.csv("tests/reference/data/hs39.csv")
scales <- list(visual = c("x1", "x2", "x3"), textual = c("x4", "x5", "x6"),
               speed = c("x7", "x8", "x9"), all = paste0("x", 1:9))
out <- list(
  data = "tests/reference/data/hs39.csv",
  psych = as.character(packageVersion("psych")),
  moments = moments_of(d[, paste0("x", 1:9)]),
  scales = lapply(scales, function(it) scale_stats(d, it))
)
write_fixture(out, "tests/reference/reliability_hs39.json")
