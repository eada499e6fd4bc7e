# Reference values for pipeline/models on simulated firm data with clusters (the shape of a socap
# unit table): cluster-robust SEs for lm/glm/glm.nb (sandwich::vcovCL, HC1), a random-intercept
# lmer, moderation probes and (moderated) mediation with a large-B bootstrap.
# Writes tests/reference/data/models_firms.csv (the simulated data) and models_firms.json.
# Run from the repository root:  Rscript tests/reference/models_firms.R
source("tests/reference/models_helpers.R")

set.seed(20260514)
G <- 30; per <- 20; n <- G * per
cl <- rep(seq_len(G), each = per)
u <- rnorm(G, 0, 0.4)[cl]
degree <- rpois(n, 4)
social_capital <- round(rnorm(n, 3.2, 0.6) + 0.3 * u, 3)
log_employees <- round(rnorm(n, 3, 1), 3)
sector <- sample(c("manufacturing", "retail", "services"), n, replace = TRUE)
participation <- round(0.5 + 0.6 * social_capital + 0.1 * degree + 0.15 * social_capital * (degree - 4) +
                       0.1 * u + rnorm(n, 0, 0.7), 3)
collaboration <- round(1 + 0.4 * social_capital + rnorm(n, 0, 0.8), 3)
growth <- round(1 + 0.2 * degree + 0.3 * social_capital + 0.08 * degree * social_capital + 0.4 * participation +
                0.3 * collaboration + 0.2 * log_employees + u + rnorm(n), 3)
mu <- exp(-1.2 + 0.06 * degree + 0.25 * social_capital + 0.04 * degree * social_capital + 0.2 * log_employees + u)
new_products <- rnbinom(n, size = 2, mu = mu)
innovated <- as.integer(new_products > 0)
social_capital[sample(n, 12)] <- NA
log_employees[sample(n, 8)] <- NA
firms <- data.frame(firm_id = sprintf("f%03d", seq_len(n)), cluster = sprintf("c%02d", cl), degree,
                    social_capital, log_employees, sector, participation, collaboration, growth,
                    new_products, innovated)
write.csv(firms, "tests/reference/data/models_firms.csv", row.names = FALSE, na = "")
firms <- read.csv("tests/reference/data/models_firms.csv")
file <- "models_firms.csv"

cases <- list()
cases[[length(cases) + 1]] <- lm_case("firms_lm", file, firms,
  growth ~ degree * social_capital + log_employees + sector, "degree", "social_capital", cluster = "cluster",
  zform = scale(growth) ~ scale(degree) * scale(social_capital) + scale(log_employees) + sector)
for (fam in c("poisson", "negbin"))
  cases[[length(cases) + 1]] <- glm_case(paste0("firms_", fam), file, firms,
    new_products ~ degree * social_capital + log_employees, fam, "degree", "social_capital",
    ses = c("classical", "hc3", "cluster"), cluster = "cluster",
    zform = new_products ~ scale(degree) * scale(social_capital) + scale(log_employees))
cases[[length(cases) + 1]] <- glm_case("firms_logit", file, firms,
  innovated ~ degree * social_capital + log_employees, "logit", "degree", "social_capital",
  ses = c("classical", "cluster"), cluster = "cluster")

# random intercept for the cluster
dm <- firms[complete.cases(firms[, c("growth", "degree", "social_capital", "log_employees")]), ]
mm <- lmer(growth ~ degree * social_capital + log_employees + (1 | cluster), dm, REML = TRUE)
vc <- as.data.frame(VarCorr(mm)); b <- fixef(mm); V <- as.matrix(vcov(mm))
vf <- var(drop(model.matrix(mm) %*% b))
cases[[length(cases) + 1]] <- list(id = "firms_lmer", data = file,
  args = list(formula = "growth ~ degree * social_capital + log_employees", family = "gaussian",
              random = "cluster", focal = "degree", moderator = "social_capital"),
  # t tests with lmerTest's Satterthwaite df (socap's default ddf for lmer)
  coefficients = list(classical = coef_table(b, V, summary(lmerTest::as_lmerModLmerTest(mm))$coefficients[, "df"])),
  probe = list(classical = lmer_probe(lmerTest::as_lmerModLmerTest(mm), b, V, "degree", "degree:social_capital",
                                      ms(dm$social_capital))),
  random = list(tau2 = vc$vcov[1], sigma2 = vc$vcov[2], reml_criterion = unname(REMLcrit(mm)),
                singular = isSingular(mm), icc = vc$vcov[1] / sum(vc$vcov), n_groups = unname(ngrps(mm)),
                r2_marginal = vf / (vf + sum(vc$vcov)), r2_conditional = (vf + vc$vcov[1]) / (vf + sum(vc$vcov))),
  fit = list(n = nobs(mm), aic = AIC(mm), bic = BIC(mm), loglik = as.numeric(logLik(mm))))

# --- mediation: regressions, and a B = 20,000 bootstrap (percentile and bias-corrected CIs) -------
B <- 20000
bc_ci <- function(t, est) {
  z0 <- qnorm(mean(t < est))
  unname(quantile(t, pnorm(2 * z0 + qnorm(c(0.025, 0.975)))))
}
summ <- function(t, est) list(estimate = est, boot_se = sd(t), ci_percentile = unname(quantile(t, c(0.025, 0.975))),
                              ci_bias_corrected = bc_ci(t, est))
path <- function(fit, term) { s <- summary(fit)$coefficients; list(estimate = s[term, 1], se = s[term, 2], p = s[term, 4]) }

mediation_case <- function(id, x, ms_, y, w = NULL, covs = character(0)) {
  d <- firms[complete.cases(firms[, c(x, ms_, y, w, covs)]), ]
  rhs_a <- paste(c(if (is.null(w)) x else paste0(x, " * ", w), covs), collapse = " + ")
  rhs_b <- paste(c(x, ms_, covs), collapse = " + ")
  fa <- lapply(ms_, function(m) lm(as.formula(paste(m, "~", rhs_a)), d))
  fb <- lm(as.formula(paste(y, "~", rhs_b)), d)
  ft <- lm(as.formula(paste(y, "~", paste(c(x, covs), collapse = " + "))), d)
  a1 <- sapply(fa, function(f) coef(f)[[x]])
  a3 <- if (is.null(w)) NULL else sapply(fa, function(f) coef(f)[[paste0(x, ":", w)]])
  b <- coef(fb)[ms_]
  res <- list(id = id, args = list(x = x, m = ms_, y = y, moderator = w, covariates = covs), n = nrow(d),
              paths = list(a = setNames(lapply(fa, path, term = x), ms_),
                           b = setNames(lapply(ms_, function(m) path(fb, m)), ms_)),
              direct = path(fb, x), total = path(ft, x), B = B)
  boot <- replicate(B, {
    i <- sample.int(nrow(d), replace = TRUE); di <- d[i, ]
    ca <- sapply(fa, function(f) coef(lm(formula(f), di))[c(x, if (!is.null(w)) paste0(x, ":", w))])
    ca <- matrix(ca, ncol = length(ms_))
    cb <- coef(lm(formula(fb), di))[ms_]
    c(ca[1, ], if (!is.null(w)) ca[2, ], cb)
  })
  K <- length(ms_)
  a1b <- matrix(boot[1:K, ], nrow = K)
  a3b <- if (!is.null(w)) matrix(boot[(K + 1):(2 * K), ], nrow = K) else NULL
  bb <- matrix(boot[(nrow(boot) - K + 1):nrow(boot), ], nrow = K)
  if (is.null(w)) {
    res$indirect <- setNames(lapply(1:K, function(k) summ(a1b[k, ] * bb[k, ], a1[k] * b[[k]])), ms_)
    if (K > 1) res$indirect$total <- summ(colSums(a1b * bb), sum(a1 * b))
  } else {
    wv <- ms(d[[w]])
    res$index <- setNames(lapply(1:K, function(k) summ(a3b[k, ] * bb[k, ], a3[k] * b[[k]])), ms_)
    res$conditional <- setNames(lapply(1:K, function(k) unname(lapply(names(wv), function(lab)
      c(list(at = lab, moderator_value = unname(wv[lab])),
        summ((a1b[k, ] + a3b[k, ] * wv[lab]) * bb[k, ], (a1[k] + a3[k] * wv[[lab]]) * b[[k]]))))), ms_)
  }
  res
}
set.seed(1)
med <- list(
  mediation_case("simple", "social_capital", "participation", "growth", covs = "log_employees"),
  mediation_case("parallel_categorical_covariate", "social_capital", c("participation", "collaboration"), "growth",
                 covs = c("log_employees", "sector")),
  mediation_case("moderated", "social_capital", "participation", "growth", w = "degree", covs = "log_employees"))

write_fixture(list(generated_by = "tests/reference/models_firms.R", r_version = R.version.string,
                   cases = cases, mediation = med), "tests/reference/models_firms.json")
