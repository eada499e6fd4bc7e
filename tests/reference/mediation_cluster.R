# Reference values for pipeline.models.mediation with clusters: the a- and b-path (direct and
# total effect) SEs of the mediation regressions are cluster-robust, as
# lmtest::coeftest(fit, vcov = sandwich::vcovCL(fit, cluster = ~cluster, type = "HC1")) -- the
# same firms, clusters and cases as tests/reference/models_firms.R: CR1 as
# lmtest::coeftest(fit, vcov = vcovCL(..., type = "HC1"), df = G - 1) (the model's CR1 tests use
# t(G - 1)), and CR2 with Satterthwaite df as clubSandwich::coef_test(fit, vcov = "CR2",
# cluster = d$cluster, test = "Satterthwaite") -- what se: cluster picks below 50 clusters.
# Also the classical SEs beside them. Output: tests/reference/mediation_cluster.json
suppressPackageStartupMessages({library(jsonlite); library(sandwich); library(lmtest);
                                library(clubSandwich)})
firms <- read.csv("tests/reference/data/models_firms.csv")
firms$sector <- factor(firms$sector)
path <- function(fit, term, d) {
  V <- vcovCL(fit, cluster = ~cluster, type = "HC1")
  G <- length(unique(d$cluster))
  ct <- coeftest(fit, vcov. = V, df = G - 1)
  s <- summary(fit)$coefficients
  c2 <- coef_test(fit, vcov = "CR2", cluster = d$cluster, test = "Satterthwaite")
  k <- which(names(coef(fit)) == term)
  list(estimate = ct[term, 1], se = ct[term, 2], t = ct[term, 3], p = ct[term, 4],
       se_classical = s[term, 2],
       cr2 = list(se = c2$SE[k], t = c2$tstat[k], df = c2$df_Satt[k], p = c2$p_Satt[k]))
}
case <- function(id, x, ms_, y, w = NULL, covs = character(0)) {
  d <- firms[complete.cases(firms[, c(x, ms_, y, w, covs, "cluster")]), ]
  rhs_a <- paste(c(if (is.null(w)) x else paste0(x, " * ", w), covs), collapse = " + ")
  rhs_b <- paste(c(x, ms_, covs), collapse = " + ")
  fa <- lapply(ms_, function(m) lm(as.formula(paste(m, "~", rhs_a)), d))
  fb <- lm(as.formula(paste(y, "~", rhs_b)), d)
  ft <- lm(as.formula(paste(y, "~", paste(c(x, covs), collapse = " + "))), d)
  out <- list(id = id, args = list(x = x, m = ms_, y = y, moderator = w, covariates = covs),
              n = nrow(d), clusters = length(unique(d$cluster)),
              paths = list(a = setNames(lapply(fa, path, term = x, d = d), ms_),
                           b = setNames(lapply(ms_, function(m) path(fb, m, d)), ms_)),
              direct = path(fb, x, d), total = path(ft, x, d))
  if (!is.null(w)) out$paths$a_interaction <- setNames(
    lapply(fa, path, term = paste0(x, ":", w), d = d), ms_)
  out
}
cases <- list(
  case("simple", "social_capital", "participation", "growth", covs = "log_employees"),
  case("parallel_categorical_covariate", "social_capital", c("participation", "collaboration"),
       "growth", covs = c("log_employees", "sector")),
  case("moderated", "social_capital", "participation", "growth", w = "degree",
       covs = "log_employees"))
writeLines(toJSON(list(generated_by = "tests/reference/mediation_cluster.R", cases = cases),
                  digits = NA, auto_unbox = TRUE, null = "null"),
           "tests/reference/mediation_cluster.json")
cat("wrote tests/reference/mediation_cluster.json\n")
