# EFA fixture on the synthetic mixed-scale survey written by reliability_mixed.R (run that first).
# Three constructs on 1-5, 0-4 and 1-7 scales with missing values; trust_5r reversed (6 - x) as the
# pipeline's cleaning would; the constant coop_5 is left out (psych::fa stops on it).
# Run from the repository root: Rscript tests/reference/efa_mixed.R
source("tests/reference/efa_helpers.R")
d <- read.csv("tests/reference/data/mixed_scales.csv")
d$trust_5r <- 6 - d$trust_5r
items <- c(paste0("trust_", 1:4), "trust_5r", paste0("coop_", 1:4), paste0("host_", 1:4))
fits <- c(grid(3, c("ml", "minres"), c("oblimin", "promax", "varimax", "geominQ", "none")))
out <- efa_fixture(d[, items], fits, "tests/reference/data/mixed_scales.csv")
out$reversed <- I("trust_5r")
write_fixture(out, "tests/reference/efa_mixed.json")
