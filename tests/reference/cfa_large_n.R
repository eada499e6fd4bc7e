# Reference values for the CFA engine at a national-survey sample size: 10^6 simulated respondents
# answering 20 five-point items (five correlated constructs of four items; seeded). Only the
# moments are committed (tests/reference/data/cfa_large_n_cov.csv: the unbiased covariance matrix
# of the complete rows, and their means and count), and lavaan is fitted to them with
# sample.cov / sample.mean / sample.nobs -- at this n, chi-square = n F exposes an optimiser that
# stops early. Output: tests/reference/cfa_large_n.json
source("tests/reference/cfa_common.R")
set.seed(31337)
n <- 1e6
k <- 5
phi <- matrix(0.4, k, k) + diag(0.6, k)
eta <- matrix(rnorm(n * k), n) %*% chol(phi)
cuts <- c(-1.5, -0.5, 0.5, 1.4)
x <- matrix(NA_real_, n, 4 * k)
names <- character(4 * k)
for (j in 1:k) for (i in 1:4) {
  lam <- 0.55 + 0.1 * (i - 1)
  y <- lam * eta[, j] + sqrt(1 - lam^2) * rnorm(n)
  col <- 4 * (j - 1) + i
  x[, col] <- findInterval(y, cuts) + 1
  names[col] <- sprintf("c%d_%d", j, i)
}
colnames(x) <- names
S <- cov(x)
out_cov <- data.frame(item = names, mean = colMeans(x), n = n, S, check.names = FALSE)
write.csv(out_cov, "tests/reference/data/cfa_large_n_cov.csv", row.names = FALSE)

mom <- read.csv("tests/reference/data/cfa_large_n_cov.csv", check.names = FALSE)
S <- as.matrix(mom[, mom$item])
rownames(S) <- mom$item
model <- paste(sapply(1:k, function(j) sprintf("c%d =~ %s", j,
  paste(sprintf("c%d_%d", j, 1:4), collapse = " + "))), collapse = "\n")
fit <- cfa(model, sample.cov = S, sample.nobs = mom$n[1])
write_fixture(list(n = mom$n[1], converged = lavInspect(fit, "converged"),
                   iterations = lavInspect(fit, "iterations"),
                   fit = dump_fit(fit), params = dump_params(fit)),
              "tests/reference/cfa_large_n.json")
