# EFA fixture on Holzinger & Swineford (1939) from semopy.examples.holzinger39 (complete data,
# 301 x 9, three well-separated abilities). Run from the repo root: Rscript tests/reference/efa_hs39.R
source("tests/reference/efa_helpers.R")
d <- read.csv("tests/reference/data/hs39.csv")[, paste0("x", 1:9)]
fits <- c(grid(3, c("ml", "minres"), c("oblimin", "promax", "varimax", "geominQ", "none")),
          grid(2, c("ml", "minres"), c("oblimin", "varimax")),
          grid(1, c("ml", "minres"), "oblimin"))
out <- efa_fixture(d, fits, "tests/reference/data/hs39.csv")
write_fixture(out, "tests/reference/efa_hs39.json")
