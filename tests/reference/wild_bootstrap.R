# Restricted wild cluster bootstrap (WCR, Cameron, Gelbach & Miller 2008) of the interaction in
# the example study's unit table, lm(new_products ~ z_degree * z_sc + log_employees), 12
# clusters: every one of the 2^12 Rademacher sign vectors, a hand-written loop refitting lm.fit
# on each bootstrap sample with CR1 (sandwich-free: cluster sums of scores) studentisation.
# Run from the repository root:  Rscript tests/reference/wild_bootstrap.R
suppressPackageStartupMessages(library(jsonlite))
d <- read.csv("tests/reference/data/cr2_units.csv")
d$z_degree <- drop(scale(d$degree)); d$z_sc <- drop(scale(d$social_capital))
X <- model.matrix(~ z_degree * z_sc + log_employees, d)
X <- X[, c("(Intercept)", "z_degree", "z_sc", "log_employees", "z_degree:z_sc")]
y <- d$new_products
g <- as.integer(factor(d$cluster))
G <- max(g); k <- 5

cr_t <- function(yy, r) {
  f <- lm.fit(X, yy); e <- f$residuals
  B <- solve(crossprod(X))
  U <- rowsum(X * e, g)
  V <- B %*% crossprod(U) %*% B
  (f$coefficients[k] - r) / sqrt(V[k, k])
}
signs <- as.matrix(expand.grid(rep(list(c(-1, 1)), G)))
b_k <- lm.fit(X, y)$coefficients[k]
se_k <- abs(b_k / cr_t(y, 0))
# the null of no interaction, and nulls around the estimate where the p-value is intermediate
cases <- lapply(unname(c(0, b_k + c(-2.5, -1.5, -0.5, 0.3, 1.2) * se_k)), function(r) {
  fr <- lm.fit(X[, -k], y - r * X[, k])
  fitted <- drop(X[, -k] %*% fr$coefficients) + r * X[, k]
  e <- y - fitted
  t0 <- cr_t(y, r)
  tb <- apply(signs, 1, function(v) cr_t(fitted + v[g] * e, r))
  list(null = r, t = unname(t0), p = mean(abs(tb) >= abs(t0) * (1 - 1e-10)), draws = nrow(signs))
})
writeLines(toJSON(list(generated_by = "tests/reference/wild_bootstrap.R", R = R.version.string, cases = cases),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/wild_bootstrap.json")
