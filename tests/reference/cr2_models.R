# Reference values for pipeline/models/clustered.py: clubSandwich 0.5.x CR2 covariances with
# Satterthwaite df (coef_test, linear_contrast), clubSandwich CR1, for lm (with and without
# weights), glm (poisson, logit) and MASS::glm.nb.
#   cr2_units.csv        the bundled example study's unit table (socap run; 300 firms in 12
#                        clusters): cluster, new_products, degree, social_capital, log_employees, firm_age
#   models_grunfeld.csv  statsmodels' Grunfeld data (11 firms x 20 years), w = weights
#   models_firms.csv     simulated firms (600 in 30 clusters)
#   models_fair.csv      statsmodels' fair data, clustered by occupation (6 clusters of 41-2,783)
# Run from the repository root:  Rscript tests/reference/cr2_models.R
suppressPackageStartupMessages({library(clubSandwich); library(MASS); library(jsonlite); library(sandwich)})

units <- read.csv("tests/reference/data/cr2_units.csv")
units$z_degree <- drop(scale(units$degree)); units$z_sc <- drop(scale(units$social_capital))
units$wt <- 1 + (seq_len(nrow(units)) %% 4) / 2
grunfeld <- read.csv("tests/reference/data/models_grunfeld.csv")
firms <- read.csv("tests/reference/data/models_firms.csv")
fair <- read.csv("tests/reference/data/models_fair.csv")

# GLMs iterated to |dev - dev_old| / (|dev| + 0.1) < 1e-12 (socap's criterion is 1e-10): with R's
# default 1e-8, glm's working weights lag its fitted values by one IRLS step, which moves CR2 SEs
# of a logit by ~1e-4 relative (the converged value is the estimator's)
ctl <- glm.control(epsilon = 1e-12, maxit = 100)
mat <- function(V) unname(lapply(seq_len(nrow(V)), function(i) unname(V[i, ])))

one <- function(id, data_file, args, fit, cl, shifts = NULL) {
  V2 <- vcovCR(fit, cluster = cl, type = "CR2")
  ct <- coef_test(fit, vcov = V2, test = "Satterthwaite")
  V1 <- vcovCR(fit, cluster = cl, type = "CR1")
  ct1 <- coef_test(fit, vcov = V1, test = "naive-t")
  # simple slopes of z_degree at z_sc = k: the z_degree coefficient after refitting with z_sc - k
  # (CR2 and its Satterthwaite df are equivariant under the reparameterisation), which is
  # clubSandwich::linear_contrast's number without its code path (it fails for weighted lm)
  lc <- lapply(shifts, function(k) {
    d2 <- eval(fit$call$data); d2$z_sc <- d2$z_sc - k
    f2 <- update(fit, data = d2)
    r <- coef_test(f2, vcov = vcovCR(f2, cluster = cl, type = "CR2"), test = "Satterthwaite")
    list(contrast = c(0, 1, 0, 0, k), estimate = r$beta[2], se = r$SE[2], df = r$df_Satt[2])
  })
  list(id = id, data = data_file, args = args, terms = names(coef(fit)), estimate = unname(coef(fit)),
       cr2 = list(vcov = mat(as.matrix(V2)), se = unname(ct$SE), df = unname(ct$df_Satt),
                  p = unname(ct$p_Satt)),
       cr1 = list(vcov = mat(as.matrix(V1)), df = unname(ct1$df_t), p = unname(ct1$p_t)),
       vcovCL = mat(sandwich::vcovCL(fit, cluster = cl, type = "HC1")),
       contrasts = lc)
}

cases <- list()
f_units <- new_products ~ z_degree * z_sc + log_employees
cases[[length(cases) + 1]] <- one("units_poisson", "cr2_units.csv",
  list(formula = "new_products ~ degree * social_capital + log_employees", family = "poisson",
       cluster = "cluster", standardize = c("degree", "social_capital")),
  glm(f_units, poisson, units, control = ctl), units$cluster, c(-1, 0, 1))
cases[[length(cases) + 1]] <- one("units_lm", "cr2_units.csv",
  list(formula = "new_products ~ degree * social_capital + log_employees", family = "gaussian",
       cluster = "cluster", standardize = c("degree", "social_capital")),
  lm(f_units, units), units$cluster, c(-1, 0, 1))
cases[[length(cases) + 1]] <- one("units_wls", "cr2_units.csv",
  list(formula = "new_products ~ degree * social_capital + log_employees", family = "gaussian",
       cluster = "cluster", standardize = c("degree", "social_capital"), weight = "wt"),
  lm(f_units, units, weights = wt), units$cluster, c(-1, 0, 1))
cases[[length(cases) + 1]] <- one("units_negbin", "cr2_units.csv",
  list(formula = "new_products ~ degree * social_capital + log_employees", family = "negbin",
       cluster = "cluster", standardize = c("degree", "social_capital")),
  glm.nb(f_units, units, control = ctl), units$cluster, c(-1, 0, 1))
units$any <- as.numeric(units$new_products > 0)
cases[[length(cases) + 1]] <- one("units_logit", "cr2_units.csv",
  list(formula = "any ~ degree * social_capital + log_employees", family = "logit",
       cluster = "cluster", standardize = c("degree", "social_capital"), derived = "any = new_products > 0"),
  glm(any ~ z_degree * z_sc + log_employees, binomial, units, control = ctl), units$cluster, c(-1, 0, 1))
cases[[length(cases) + 1]] <- one("units_poisson_weighted", "cr2_units.csv",
  list(formula = "new_products ~ degree * social_capital + log_employees", family = "poisson",
       cluster = "cluster", standardize = c("degree", "social_capital"), weight = "wt"),
  glm(f_units, poisson, units, weights = wt, control = ctl), units$cluster)
cases[[length(cases) + 1]] <- one("grunfeld_lm", "models_grunfeld.csv",
  list(formula = "invest ~ value * capital", family = "gaussian", cluster = "firm"),
  lm(invest ~ value * capital, grunfeld), grunfeld$firm)
cases[[length(cases) + 1]] <- one("grunfeld_wls", "models_grunfeld.csv",
  list(formula = "invest ~ value * capital", family = "gaussian", cluster = "firm", weight = "w"),
  lm(invest ~ value * capital, grunfeld, weights = w), grunfeld$firm)
# one cluster-level regressor (year is within, a firm dummy is cluster-constant): leverage-1 blocks
grunfeld$gm <- as.numeric(grunfeld$firm == "General Motors")
cases[[length(cases) + 1]] <- one("grunfeld_lm_gm", "models_grunfeld.csv",
  list(formula = "invest ~ value + capital + gm", family = "gaussian", cluster = "firm",
       derived = "gm = firm == 'General Motors'"),
  lm(invest ~ value + capital + gm, grunfeld), grunfeld$firm)
cases[[length(cases) + 1]] <- one("firms_logit", "models_firms.csv",
  list(formula = "innovated ~ degree * social_capital + log_employees", family = "logit", cluster = "cluster"),
  glm(innovated ~ degree * social_capital + log_employees, binomial, firms, control = ctl), firms$cluster)
cases[[length(cases) + 1]] <- one("fair_logit", "models_fair.csv",
  list(formula = "affair ~ rate_marriage + age + yrs_married + religious", family = "logit",
       cluster = "occupation"),
  glm(affair ~ rate_marriage + age + yrs_married + religious, binomial, fair, control = ctl), fair$occupation)

out <- list(generated_by = "tests/reference/cr2_models.R",
            versions = list(R = R.version.string, clubSandwich = as.character(packageVersion("clubSandwich")),
                            sandwich = as.character(packageVersion("sandwich"))),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/cr2_models.json")
