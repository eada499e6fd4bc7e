# Shared helpers for the models_*.R fixture scripts (sourced; run those from the repository root).
# Everything here is written out from the textbook formulas, independently of socap's code:
# simple slopes b_x + b_xw * w with se from the quadratic form, Johnson-Neyman bounds as roots
# of a polynomial (base::polyroot), average marginal effects by finite differences with a
# numDeriv::jacobian for the delta method.
suppressPackageStartupMessages({
  library(jsonlite); library(sandwich); library(lmtest); library(MASS); library(car)
  library(lme4); library(numDeriv)
})

coef_table <- function(b, V, df = Inf) {
  se <- sqrt(diag(V))
  stat <- b / se
  p <- if (is.finite(df)) 2 * pt(-abs(stat), df) else 2 * pnorm(-abs(stat))
  q <- if (is.finite(df)) qt(0.975, df) else qnorm(0.975)
  out <- list()
  for (k in seq_along(b)) out[[names(b)[k]]] <- list(estimate = unname(b[k]), se = unname(se[k]),
    stat = unname(stat[k]), p = unname(p[k]), ci_low = unname(b[k] - q * se[k]), ci_high = unname(b[k] + q * se[k]))
  out
}

# slope of `focal` at moderator w for a model whose only terms with focal are focal and focal:mod
probe <- function(b, V, focal, inter, w_values, df = Inf, mod_range = NULL) {
  q <- if (is.finite(df)) qt(0.975, df) else qnorm(0.975)
  slopes <- lapply(seq_along(w_values), function(k) {
    w <- w_values[k]
    g <- setNames(rep(0, length(b)), names(b)); g[focal] <- 1; g[inter] <- w
    s <- sum(g * b); se <- sqrt(drop(t(g) %*% V %*% g)); st <- s / se
    list(at = names(w_values)[k], moderator_value = unname(w), slope = s, se = se, stat = st,
         p = if (is.finite(df)) 2 * pt(-abs(st), df) else 2 * pnorm(-abs(st)))
  })
  # Johnson-Neyman: (b1 + b3 w)^2 - q^2 (v11 + 2 w v13 + w^2 v33) = 0
  b1 <- b[[focal]]; b3 <- b[[inter]]
  v11 <- V[focal, focal]; v13 <- V[focal, inter]; v33 <- V[inter, inter]
  coefs <- c(b1^2 - q^2 * v11, 2 * (b1 * b3 - q^2 * v13), b3^2 - q^2 * v33)
  r <- polyroot(coefs)
  real <- sort(Re(r[abs(Im(r)) < 1e-8 * max(1, Mod(r))]))
  sig <- function(w) abs(b1 + b3 * w) / sqrt(v11 + 2 * w * v13 + w^2 * v33) > q
  inside <- if (length(real) == 2) sig(mean(real)) else NA
  list(slopes = slopes, jn = list(bounds = real, inside_significant = inside, critical_value = q))
}

# counterfactual AME of focal with the moderator set to w, by central differences; delta-method
# SE from a numerical jacobian with respect to the coefficients
ame_fd <- function(fit, data, focal, mod, w, V, linkinv, weights = NULL) {
  tt <- delete.response(terms(fit))
  b0 <- coef(fit)
  h <- 1e-5 * max(1, sd(data[[focal]]))
  ame_of <- function(b) {
    d1 <- data; d0 <- data
    d1[[mod]] <- w; d0[[mod]] <- w
    d1[[focal]] <- data[[focal]] + h; d0[[focal]] <- data[[focal]] - h
    X1 <- model.matrix(tt, model.frame(tt, d1, xlev = fit$xlevels))
    X0 <- model.matrix(tt, model.frame(tt, d0, xlev = fit$xlevels))
    off1 <- model.offset(model.frame(tt, d1)); if (is.null(off1)) off1 <- 0
    e <- (linkinv(drop(X1 %*% b) + off1) - linkinv(drop(X0 %*% b) + off1)) / (2 * h)
    if (is.null(weights)) mean(e) else sum(weights * e) / sum(weights)
  }
  est <- ame_of(b0)
  J <- jacobian(ame_of, b0)
  list(ame = est, se = sqrt(drop(J %*% V %*% t(J))))
}

write_fixture <- function(x, path) {
  write_json(x, path, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null")
  cat("wrote", path, "\n")
}
