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
  # t tests with lmerTest's Satterthwaite df (socap's default ddf for lmer)
  coefficients = list(classical = coef_table(b, V, summary(lmerTest::as_lmerModLmerTest(mm))$coefficients[, "df"])),
  # simple slopes as lmerTest::contest1D (each slope's Satterthwaite df); Johnson-Neyman at
  # the interaction's df
  probe = list(classical = lmer_probe(lmerTest::as_lmerModLmerTest(mm), b, V, "value", "value:capital",
                                      ms(grunfeld$capital))),
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
