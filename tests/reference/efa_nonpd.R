# EFA fixture for a pairwise correlation matrix that is not positive definite: items observed in
# disjoint blocks of respondents, so their pairwise correlations are mutually inconsistent.
# psych::fa(fm = "ml") stops on such a matrix (the ML criterion takes logs of negative
# eigenvalues); socap smooths it first as psych::cor.smooth does and says so. The reference is
# psych::fa on cor.smooth(cor(x, use = "pairwise")) with n.obs = nrow(x); minres needs no
# smoothing and is compared on the raw matrix, as psych::fa(x) computes it.
# Writes tests/reference/data/nonpd.csv. Run from the repo root: Rscript tests/reference/efa_nonpd.R
source("tests/reference/efa_helpers.R")
set.seed(7)
n <- 600
f <- matrix(rnorm(n * 2), n)
z <- function(l, k) l * f[, k] + sqrt(1 - l^2) * rnorm(n)
d <- data.frame(a = z(.8, 1), b = z(.8, 1), c = z(.7, 1), d = z(.7, 2), e = z(.75, 2),
                f = z(.6, 2))
# a and b answered by rows 1-200, b and c by 201-400, a and c by 401-600, with a flipped there
d$c[1:200] <- NA
d$a[201:400] <- NA
d$b[401:600] <- NA
d$a[401:600] <- -d$a[401:600]
write.csv(round(d, 6), "tests/reference/data/nonpd.csv", row.names = FALSE, na = "")
d <- read.csv("tests/reference/data/nonpd.csv")
r <- cor(d, use = "pairwise")
sm <- suppressWarnings(cor.smooth(r))
ml <- suppressWarnings(fa(sm, nfactors = 2, n.obs = nrow(d), fm = "ml", rotate = "oblimin"))
mr <- suppressWarnings(fa(d, nfactors = 2, fm = "minres", rotate = "oblimin"))
out <- list(
  data = "tests/reference/data/nonpd.csv",
  items = colnames(d),
  n = nrow(d),
  min_eigenvalue = min(eigen(r)$values),
  smoothed = unname(sm),
  ml = list(loadings = unname(unclass(ml$loadings)), Phi = unname(ml$Phi),
            communality = unname(ml$communality)),
  ml_raw_fails = inherits(try(fa(d, nfactors = 2, fm = "ml"), silent = TRUE), "try-error"),
  minres = list(loadings = unname(unclass(mr$loadings)), Phi = unname(mr$Phi),
                communality = unname(mr$communality))
)
write_fixture(out, "tests/reference/efa_nonpd.json")
