# Reference values for pipeline/models on public data sets shipped with statsmodels
# (statsmodels.datasets: grunfeld, randhie, fair), committed as csv under tests/reference/data/:
#   models_grunfeld.csv  statsmodels.datasets.grunfeld (all 220 rows) + w = ((year - 1934) %% 5 + 1) / 3
#   models_randhie.csv   statsmodels.datasets.randhie, every 8th row (2,524 rows), 7 columns
#   models_fair.csv      statsmodels.datasets.fair (6,366 rows), affair = (affairs > 0)
# Run from the repository root:  Rscript tests/reference/models_public.R
source("tests/reference/models_helpers.R")

grunfeld <- read.csv("tests/reference/data/models_grunfeld.csv")
# socap orders factor levels in code-point (C-locale) order: build R's factor the same way
grunfeld$firm <- factor(grunfeld$firm, levels = sort(unique(grunfeld$firm), method = "radix"))
randhie <- read.csv("tests/reference/data/models_randhie.csv")
fair <- read.csv("tests/reference/data/models_fair.csv")

cases <- list()
ms <- function(x) { m <- mean(x); s <- sd(x); c("-1 SD" = m - s, "mean" = m, "+1 SD" = m + s) }

lm_case <- function(id, file, data, formula, focal = NULL, mod = NULL, weights = NULL, center = character(0),
                    ses = c("classical", "hc3", "cluster"), cluster = NULL, zform = NULL) {
  d <- data
  for (v in center) d[[v]] <- d[[v]] - mean(d[[v]])
  d$.w <- if (is.null(weights)) rep(1, nrow(d)) else d[[weights]]
  fit <- if (is.null(weights)) lm(formula, d) else lm(formula, d, weights = .w)
  df <- fit$df.residual
  Vs <- list(classical = vcov(fit), hc3 = vcovHC(fit, type = "HC3"))
  if (!is.null(cluster)) Vs$cluster <- vcovCL(fit, cluster = d[[cluster]], type = "HC1")
  res <- list(id = id, data = file,
    args = list(formula = deparse1(formula), family = "gaussian", cluster = cluster, focal = focal,
                moderator = mod, weight = weights, center = as.list(center)),
    fit = list(n = nobs(fit), r2 = summary(fit)$r.squared, adj_r2 = summary(fit)$adj.r.squared,
               aic = AIC(fit), bic = BIC(fit), loglik = as.numeric(logLik(fit)), df_residual = df,
               deviance = deviance(fit)))
  res$coefficients <- list(); res$probe <- list()
  for (s in intersect(ses, names(Vs))) {
    ct <- coeftest(fit, vcov. = Vs[[s]])               # t with the residual df, as socap
    stopifnot(isTRUE(all.equal(unname(ct[, 4]), unname(2 * pt(-abs(coef(fit) / sqrt(diag(Vs[[s]]))), df)))))
    res$coefficients[[s]] <- coef_table(coef(fit), Vs[[s]], df)
    if (!is.null(focal)) res$probe[[s]] <- probe(coef(fit), Vs[[s]], focal, paste0(focal, ":", mod), ms(d[[mod]]), df)
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
  d <- data
  w <- if (is.null(weights)) rep(1, nrow(d)) else d[[weights]]
  d$.w <- w
  fit <- if (family == "negbin") glm.nb(formula, d, weights = .w) else
    glm(formula, d, family = if (family == "logit") binomial() else poisson(), weights = .w)
  Vs <- list(classical = vcov(fit), hc3 = vcovHC(fit, type = "HC3"))
  if (!is.null(cluster)) Vs$cluster <- vcovCL(fit, cluster = d[[cluster]], type = "HC1")
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
    ct <- coeftest(fit, vcov. = Vs[[s]])               # z for glm, as socap
    stopifnot(isTRUE(all.equal(unname(ct[, 4]), unname(2 * pnorm(-abs(coef(fit) / sqrt(diag(Vs[[s]]))))))))
    res$coefficients[[s]] <- coef_table(coef(fit), Vs[[s]], Inf)
    if (!is.null(focal)) {
      wv <- ms(d[[mod]])
      res$probe[[s]] <- probe(coef(fit), Vs[[s]], focal, paste0(focal, ":", mod), wv, Inf)
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

# --- gaussian: Grunfeld investment, firm dummies, cluster by firm ------------------------------
cases[[length(cases) + 1]] <- lm_case("grunfeld_lm", "models_grunfeld.csv", grunfeld,
  invest ~ value * capital + firm, "value", "capital", cluster = "firm",
  zform = scale(invest) ~ scale(value) * scale(capital) + firm)
cases[[length(cases) + 1]] <- lm_case("grunfeld_lm_centred", "models_grunfeld.csv", grunfeld,
  invest ~ value * capital, "value", "capital", center = c("value", "capital"), cluster = "firm",
  zform = scale(invest) ~ scale(value) * scale(capital))
cases[[length(cases) + 1]] <- lm_case("grunfeld_wls", "models_grunfeld.csv", grunfeld,
  invest ~ value * capital, "value", "capital", weights = "w", cluster = "firm")
cases[[length(cases) + 1]] <- lm_case("grunfeld_factor_slopes", "models_grunfeld.csv", grunfeld,
  invest ~ capital + value:firm, ses = c("classical", "hc3"))
cases[[length(cases) + 1]] <- lm_case("grunfeld_log_noint", "models_grunfeld.csv", grunfeld,
  log(invest) ~ log(value) + sqrt(capital) - 1, ses = c("classical", "hc3"))

# --- random intercept: lme4::lmer, REML ---------------------------------------------------------
mm <- lmer(invest ~ value * capital + (1 | firm), grunfeld, REML = TRUE)
vc <- as.data.frame(VarCorr(mm))
b <- fixef(mm); V <- as.matrix(vcov(mm))
vf <- var(drop(model.matrix(mm) %*% b))
lmer_case <- list(id = "grunfeld_lmer", data = "models_grunfeld.csv",
  args = list(formula = "invest ~ value * capital", family = "gaussian", random = "firm", focal = "value", moderator = "capital"),
  coefficients = list(classical = coef_table(b, V, Inf)),
  probe = list(classical = probe(b, V, "value", "value:capital", ms(grunfeld$capital), Inf)),
  random = list(tau2 = vc$vcov[1], sigma2 = vc$vcov[2], reml_criterion = unname(REMLcrit(mm)),
                singular = isSingular(mm), icc = vc$vcov[1] / sum(vc$vcov), n_groups = unname(ngrps(mm)),
                r2_marginal = vf / (vf + sum(vc$vcov)), r2_conditional = (vf + vc$vcov[1]) / (vf + sum(vc$vcov))),
  fit = list(n = nobs(mm), aic = AIC(mm), bic = BIC(mm), loglik = as.numeric(logLik(mm))))
cases[[length(cases) + 1]] <- lmer_case

# --- counts: RAND health insurance experiment (subsample) ----------------------------------------
cases[[length(cases) + 1]] <- glm_case("randhie_poisson", "models_randhie.csv", randhie,
  mdvis ~ lncoins * disea + idp + physlm + hlthg, "poisson", "lncoins", "disea",
  zform = mdvis ~ scale(lncoins) * scale(disea) + scale(idp) + scale(physlm) + scale(hlthg))
cases[[length(cases) + 1]] <- glm_case("randhie_poisson_offset", "models_randhie.csv", randhie,
  mdvis ~ lncoins * disea + idp + offset(log1p(lpi)), "poisson", "lncoins", "disea")
cases[[length(cases) + 1]] <- glm_case("randhie_negbin", "models_randhie.csv", randhie,
  mdvis ~ lncoins * disea + idp + physlm + hlthg, "negbin", "lncoins", "disea",
  zform = mdvis ~ scale(lncoins) * scale(disea) + scale(idp) + scale(physlm) + scale(hlthg))

# --- binary: Fair's affairs data ----------------------------------------------------------------
cases[[length(cases) + 1]] <- glm_case("fair_logit", "models_fair.csv", fair,
  affair ~ rate_marriage * religious + age + yrs_married + children + educ, "logit", "rate_marriage", "religious",
  zform = affair ~ scale(rate_marriage) * scale(religious) + scale(age) + scale(yrs_married) + scale(children) + scale(educ))
fair$wt <- 1 + (fair$occupation %% 3)
cases[[length(cases) + 1]] <- glm_case("fair_logit_weighted", "models_fair.csv", fair,
  affair ~ rate_marriage * religious + age + yrs_married, "logit", "rate_marriage", "religious", weights = "wt")
cases[[length(cases)]]$args$weight_expr <- "1 + (occupation % 3)"

write_fixture(list(generated_by = "tests/reference/models_public.R", r_version = R.version.string,
                   packages = list(sandwich = as.character(packageVersion("sandwich")),
                                   lme4 = as.character(packageVersion("lme4")),
                                   MASS = as.character(packageVersion("MASS")),
                                   car = as.character(packageVersion("car"))),
                   cases = cases), "tests/reference/models_public.json")
