# EFA fixture on psych::bfi (2800 x 25, six-point items with missing values, shipped with R's
# psych; the csv holds its 25 items). Items as answered (reverse-keyed items not reversed, as
# psych's own examples factor them). Run from the repo root: Rscript tests/reference/efa_bfi.R
source("tests/reference/efa_helpers.R")
d <- read.csv("tests/reference/data/bfi.csv")
fits <- c(grid(5, c("ml", "minres"), c("oblimin", "promax", "varimax", "geominQ")),
          grid(6, "ml", "oblimin"))
out <- efa_fixture(d, fits, "tests/reference/data/bfi.csv", n_iter_big = 100)
write_fixture(out, "tests/reference/efa_bfi.json")
