# Reliability fixture on psych::bfi (2800 x 25 six-point items, missing values, shipped with R's
# psych; the csv holds its 25 items). Each Big-Five scale as answered (its reverse-worded items
# A1 C4 C5 E1 E2 O2 O5 not reversed) and keyed (7 - x).
# Run from the repository root: Rscript tests/reference/reliability_bfi.R
source("tests/reference/reliability_helpers.R")
d <- read.csv("tests/reference/data/bfi.csv")
reverse <- c("A1", "C4", "C5", "E1", "E2", "O2", "O5")
keyed <- d
keyed[reverse] <- 7 - keyed[reverse]
scales <- list(agree = paste0("A", 1:5), conscientious = paste0("C", 1:5),
               extraversion = paste0("E", 1:5), neuroticism = paste0("N", 1:5),
               openness = paste0("O", 1:5))
out <- list(
  data = "tests/reference/data/bfi.csv",
  psych = as.character(packageVersion("psych")),
  reverse = reverse,
  moments = moments_of(d),
  raw = lapply(scales, function(it) scale_stats(d, it)),
  keyed = lapply(scales, function(it) scale_stats(keyed, it))
)
write_fixture(out, "tests/reference/reliability_bfi.json")
