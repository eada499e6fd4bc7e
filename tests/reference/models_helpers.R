# Shared helpers for the models_*.R fixture scripts (sourced; run those from the repository root).
# Everything here is written out from the textbook formulas, independently of socap's code:
# simple slopes b_x + b_xw * w with se from the quadratic form, Johnson-Neyman bounds as roots
# of a polynomial (base::polyroot), average marginal effects by finite differences with a
# numDeriv::jacobian for the delta method.
suppressPackageStartupMessages({
  library(jsonlite); library(sandwich); library(lmtest); library(MASS); library(car)
  library(lme4); library(numDeriv)
})

# df: one value, or one per coefficient (lmerTest's Satterthwaite df); Inf = normal
coef_table <- function(b, V, df = Inf) {
  se <- sqrt(diag(V))
  stat <- b / se
  df <- rep_len(df, length(b))
  p <- 2 * pt(-abs(stat), df)
  q <- qt(0.975, df)
  out <- list()
  for (k in seq_along(b)) out[[names(b)[k]]] <- list(estimate = unname(b[k]), se = unname(se[k]),
    stat = unname(stat[k]), p = unname(p[k]), ci_low = unname(b[k] - q[k] * se[k]), ci_high = unname(b[k] + q[k] * se[k]))
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

# a random-intercept lmer's simple slopes as lmerTest::contest1D (each slope's Satterthwaite df),
# Johnson-Neyman at the interaction's df (fit: an lmerModLmerTest)
lmer_probe <- function(fit, b, V, focal, inter, w_values) {
  df_inter <- lmerTest::contest1D(fit, as.numeric(names(b) == inter), ddf = "Satterthwaite")$df
  out <- probe(b, V, focal, inter, w_values, df_inter)
  out$slopes <- lapply(seq_along(w_values), function(k) {
    L <- as.numeric(names(b) == focal) + w_values[[k]] * as.numeric(names(b) == inter)
    r <- lmerTest::contest1D(fit, L, ddf = "Satterthwaite")
    list(at = names(w_values)[k], moderator_value = unname(w_values[[k]]), slope = r$Estimate,
         se = r$`Std. Error`, stat = r$`t value`, p = r$`Pr(>|t|)`, df = r$df)
  })
  out
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

# One lm / glm / glm.nb case: coefficients under each SE type (coeftest), probes, fit statistics.
# Rows: complete cases over the formula's variables (and cluster / weights), as socap's listwise deletion.
ms <- function(x) { m <- mean(x); s <- sd(x); c("-1 SD" = m - s, "mean" = m, "+1 SD" = m + s) }

lm_case <- function(id, file, data, formula, focal = NULL, mod = NULL, weights = NULL, center = character(0),
                    ses = c("classical", "hc3", "cluster"), cluster = NULL, zform = NULL) {
  d <- data[complete.cases(data[, unique(c(all.vars(formula), cluster, weights))]), ]
  for (v in center) d[[v]] <- d[[v]] - mean(d[[v]])
  d$.w <- if (is.null(weights)) rep(1, nrow(d)) else d[[weights]]
  fit <- if (is.null(weights)) lm(formula, d) else lm(formula, d, weights = .w)
  df <- fit$df.residual
  Vs <- list(classical = vcov(fit), hc3 = vcovHC(fit, type = "HC3"))
  if (!is.null(cluster)) Vs$cluster <- vcovCL(fit, cluster = d[[cluster]], type = "HC1")  # d holds the model's rows only
  res <- list(id = id, data = file,
    args = list(formula = deparse1(formula), family = "gaussian", cluster = cluster, focal = focal,
                moderator = mod, weight = weights, center = as.list(center)),
    fit = list(n = nobs(fit), r2 = summary(fit)$r.squared, adj_r2 = summary(fit)$adj.r.squared,
               aic = AIC(fit), bic = BIC(fit), loglik = as.numeric(logLik(fit)), df_residual = df,
               deviance = deviance(fit)))
  res$coefficients <- list(); res$probe <- list()
  for (s in intersect(ses, names(Vs))) {
    # t with the residual df, as socap; CR1 (se: cr1) with G - 1 df (lmtest::coeftest(df = G - 1))
    dfs <- if (s == "cluster") length(unique(d[[cluster]])) - 1 else df
    ct <- coeftest(fit, vcov. = Vs[[s]], df = dfs)
    stopifnot(isTRUE(all.equal(unname(ct[, 4]), unname(2 * pt(-abs(coef(fit) / sqrt(diag(Vs[[s]]))), dfs)))))
    res$coefficients[[s]] <- coef_table(coef(fit), Vs[[s]], dfs)
    if (!is.null(focal)) res$probe[[s]] <- probe(coef(fit), Vs[[s]], focal, paste0(focal, ":", mod), ms(d[[mod]]), dfs)
  }
  if (is.null(weights)) {
    vf <- suppressMessages(vif(fit))
    res$vif <- if (is.matrix(vf)) as.list(vf[, 1]) else as.list(vf)
    bp <- bptest(fit)
    res$breusch_pagan <- list(statistic = unname(bp$statistic), df = unname(bp$parameter), p = bp$p.value)
    e <- residuals(fit); m2 <- mean((e - mean(e))^2)
    res$residuals <- list(skewness = mean((e - mean(e))^3) / m2^1.5, excess_kurtosis = mean((e - mean(e))^4) / m2^2 - 3)
  }
  X <- model.matrix(fit)
  res$condition_number <- kappa(sweep(X, 2, sqrt(colSums(X^2)), "/"), exact = TRUE)
  if (!is.null(zform)) {     # standardised coefficients: refit on z-scored variables
    fz <- if (is.null(weights)) lm(zform, d) else lm(zform, d, weights = .w)
    res$beta <- as.list(setNames(coef(fz), names(coef(fit)))[-1])
  }
  res
}

glm_case <- function(id, file, data, formula, family, focal = NULL, mod = NULL, weights = NULL,
                     ses = c("classical", "hc3"), cluster = NULL, zform = NULL) {
  d <- data[complete.cases(data[, unique(c(all.vars(formula), cluster, weights))]), ]
  w <- if (is.null(weights)) rep(1, nrow(d)) else d[[weights]]
  d$.w <- w
  fit <- if (family == "negbin") glm.nb(formula, d, weights = .w) else
    glm(formula, d, family = if (family == "logit") binomial() else poisson(), weights = .w)
  Vs <- list(classical = vcov(fit), hc3 = vcovHC(fit, type = "HC3"))
  if (!is.null(cluster)) Vs$cluster <- vcovCL(fit, cluster = d[[cluster]], type = "HC1")  # d holds the model's rows only
  res <- list(id = id, data = file,
    args = list(formula = deparse1(formula), family = family, cluster = cluster, focal = focal,
                moderator = mod, weight = weights),
    fit = list(n = nobs(fit), r2 = 1 - fit$deviance / fit$null.deviance, aic = AIC(fit), bic = BIC(fit),
               loglik = as.numeric(logLik(fit)), deviance = fit$deviance, null_deviance = fit$null.deviance,
               dispersion_ratio = sum(residuals(fit, "pearson")^2) / fit$df.residual))
  if (family == "negbin") { res$fit$theta <- fit$theta; res$fit$theta_se <- fit$SE.theta }
  res$coefficients <- list(); res$probe <- list(); res$ame <- list()
  linkinv <- family(fit)$linkinv
  for (s in intersect(ses, names(Vs))) {
    # z for glm, as socap; CR1 (se: cr1) with t(G - 1)
    dfs <- if (s == "cluster") length(unique(d[[cluster]])) - 1 else Inf
    res$coefficients[[s]] <- coef_table(coef(fit), Vs[[s]], dfs)
    if (!is.null(focal)) {
      wv <- ms(d[[mod]])
      res$probe[[s]] <- probe(coef(fit), Vs[[s]], focal, paste0(focal, ":", mod), wv, dfs)
      res$ame[[s]] <- lapply(wv, function(at) ame_fd(fit, d, focal, mod, at, Vs[[s]], linkinv,
                                                     if (is.null(weights)) NULL else d$.w))
      res$ame[[s]] <- unname(res$ame[[s]])
    }
  }
  vf <- suppressMessages(vif(fit))
  res$vif <- if (is.matrix(vf)) as.list(vf[, 1]) else as.list(vf)
  if (!is.null(zform)) {
    fz <- if (family == "negbin") glm.nb(zform, d, weights = .w) else
      glm(zform, d, family = if (family == "logit") binomial() else poisson(), weights = .w)
    res$beta <- as.list(setNames(coef(fz), names(coef(fit)))[-1])
  }
  res
}

write_fixture <- function(x, path) {
  write_json(x, path, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null")
  cat("wrote", path, "\n")
}
