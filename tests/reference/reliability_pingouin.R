# Reliability fixture on pingouin's "cronbach_wide_missing" data set (12 x 11 binary items with
# missing values; pingouin.read_dataset("cronbach_wide_missing")), the data of pingouin's own
# psych comparison. Run from the repository root: Rscript tests/reference/reliability_pingouin.R
source("tests/reference/reliability_helpers.R")
d <- read.csv("tests/reference/data/cronbach_wide_missing.csv")
out <- list(
  data = "tests/reference/data/cronbach_wide_missing.csv",
  psych = as.character(packageVersion("psych")),
  moments = moments_of(d),
  scales = list(all = scale_stats(d, colnames(d)))
)
write_fixture(out, "tests/reference/reliability_pingouin.json")
