# Reference values for socap's random-intercept GLMMs: lme4::glmer (Laplace, nAGQ = 1) on the
# simulated firm data of models_firms.R (tests/reference/data/models_firms.csv) and on Grunfeld.
# Run from the repository root:  Rscript tests/reference/models_glmer.R
source("tests/reference/models_helpers.R")

firms <- read.csv("tests/reference/data/models_firms.csv")
cases <- list()
glmer_case <- function(id, formula, rand, family, data, focal, mod) {
  vars <- c(all.vars(formula), rand)
  d <- data[complete.cases(data[, vars]), ]
  f <- update(formula, as.formula(paste0(". ~ . + (1 | ", rand, ")")))
  # tight optimiser settings so that R's optimum is as close to the true one as lme4 allows
  m <- glmer(f, d, family = if (family == "logit") binomial() else poisson(),
             control = glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
  b <- fixef(m); V <- as.matrix(vcov(m))          # use.hessian = TRUE (lme4's default)
  Vrx <- as.matrix(suppressWarnings(vcov(m, use.hessian = FALSE)))
  tau2 <- getME(m, "theta")^2
  xb <- drop(model.matrix(m) %*% b)
  dist <- if (family == "logit") pi^2 / 3 else log1p(1 / exp(mean(xb) + tau2 / 2))
  list(id = id, data = "models_firms.csv",
       args = list(formula = deparse1(formula), family = family, random = rand, focal = focal, moderator = mod),
       coefficients = list(classical = coef_table(b, V, Inf)),
       se_rx = as.list(sqrt(diag(Vrx))),
       probe = list(classical = probe(b, V, focal, paste0(focal, ":", mod), ms(d[[mod]]), Inf)),
       glmm = list(theta = unname(getME(m, "theta")), deviance = -2 * as.numeric(logLik(m)),
                   aic = AIC(m), bic = BIC(m), n = nobs(m), n_groups = unname(ngrps(m)),
                   singular = isSingular(m), icc = tau2 / (tau2 + dist),
                   r2_marginal = var(xb) / (var(xb) + tau2 + dist)))
}
cases[[1]] <- glmer_case("firms_glmer_poisson", new_products ~ degree * social_capital + log_employees, "cluster",
                         "poisson", firms, "degree", "social_capital")
cases[[2]] <- glmer_case("firms_glmer_logit", innovated ~ degree * social_capital + log_employees, "cluster",
                         "logit", firms, "degree", "social_capital")
write_fixture(list(generated_by = "tests/reference/models_glmer.R", r_version = R.version.string,
                   lme4 = as.character(packageVersion("lme4")), cases = cases), "tests/reference/models_glmer.json")
