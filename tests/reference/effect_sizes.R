# Effect sizes of the interaction (pipeline/models/fit.py::_effect_sizes) from R:
# R^2 of nested lm fits (summary.lm), anova(reduced, full), lmtest::lrtest(reduced, full),
# exp(coef) with exp(CI bounds) from clubSandwich::conf_int(vcov = "CR2", test = "Satterthwaite")
# (what se: cluster gives with 12 clusters) and from confint.default (se: classical, z).
# Data: the example study's unit table (tests/reference/data/cr2_units.csv), 12 clusters.
# Run from the repository root:  Rscript tests/reference/effect_sizes.R
suppressPackageStartupMessages({library(clubSandwich); library(lmtest); library(MASS); library(jsonlite)})
d <- read.csv("tests/reference/data/cr2_units.csv")
d$z_degree <- drop(scale(d$degree)); d$z_sc <- drop(scale(d$social_capital))
d$any <- as.numeric(d$new_products > 0)
d$wt <- 1 + (seq_len(nrow(d)) %% 4) / 2
ctl <- glm.control(epsilon = 1e-12, maxit = 100)
full_f <- ~ z_degree * z_sc + log_employees
red_f <- ~ z_degree + z_sc + log_employees
nm <- function(x) gsub("z_sc", "social_capital", gsub("z_degree", "degree", x))

exp_table <- function(fit, vc) {
  ci <- if (is.null(vc)) confint.default(fit) else {
    r <- conf_int(fit, vcov = vc, test = "Satterthwaite"); cbind(r$CI_L, r$CI_U) }
  out <- list()
  b <- coef(fit)
  for (k in seq_along(b)) out[[nm(names(b)[k])]] <- list(estimate = exp(unname(b[k])),
    ci_low = exp(unname(ci[k, 1])), ci_high = exp(unname(ci[k, 2])))
  out
}
case <- function(id, family, full, red, weight = NULL) {
  lr <- lrtest(red, full)
  res <- list(id = id, family = family, weight = weight,
              lr_test = list(chisq = lr$Chisq[2], df = lr$Df[2], p = lr$`Pr(>Chisq)`[2]))
  if (family == "gaussian") {
    a <- anova(red, full)
    r2f <- summary(full)$r.squared; r2r <- summary(red)$r.squared
    res$delta_r2 <- r2f - r2r; res$f2 <- (r2f - r2r) / (1 - r2f); res$r2_without <- r2r
    res$f_test <- list(f = a$F[2], df1 = a$Df[2], df2 = a$Res.Df[2], p = a$`Pr(>F)`[2])
  } else {
    res$exp_coef_cluster <- exp_table(full, vcovCR(full, cluster = d$cluster, type = "CR2"))
    res$exp_coef_classical <- exp_table(full, NULL)
  }
  res
}
y <- function(f, lhs) update(f, as.formula(paste(lhs, "~ .")))
cases <- list(
  case("lm", "gaussian", lm(y(full_f, "new_products"), d), lm(y(red_f, "new_products"), d)),
  case("wls", "gaussian", lm(y(full_f, "new_products"), d, weights = wt), lm(y(red_f, "new_products"), d, weights = wt), "wt"),
  case("poisson", "poisson", glm(y(full_f, "new_products"), poisson, d, control = ctl),
       glm(y(red_f, "new_products"), poisson, d, control = ctl)),
  case("negbin", "negbin", glm.nb(y(full_f, "new_products"), d), glm.nb(y(red_f, "new_products"), d)),
  case("logit", "logit", glm(y(full_f, "any"), binomial, d, control = ctl), glm(y(red_f, "any"), binomial, d, control = ctl)))
writeLines(toJSON(list(generated_by = "tests/reference/effect_sizes.R", R = R.version.string, cases = cases),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/effect_sizes.json")
