# Reference values for the simple slopes of a random-intercept lmer (pipeline/models/fit.py with
# random: and ddf:): the slope of the focal predictor at the moderator = mean - 1 SD, mean,
# mean + 1 SD (sample SD over the model's rows) is the contrast L'b (1 at the focal, w at the
# interaction), tested as lmerTest::contest1D(fit, L, ddf = "Satterthwaite") and
# ddf = "Kenward-Roger" (pbkrtest's adjusted covariance and Kenward & Roger's df); the
# Johnson-Neyman critical value is qt(.975) at the interaction's df. Two cases: the firms of
# tests/reference/data/models_firms.csv (30 clusters, the catalytic model) and the small
# unbalanced design of tests/reference/data/lmer_small.csv (8 groups; a row-level x moderated by
# the group-level z, so the df are small).
# Output: tests/reference/lmer_slopes.json
suppressPackageStartupMessages({library(lmerTest); library(pbkrtest); library(jsonlite)})
case <- function(id, formula, data, focal, moderator) {
  fit <- lmer(formula, data = data, REML = TRUE)
  b <- names(fixef(fit))
  inter <- grep(":", b, value = TRUE)
  used <- model.frame(fit)
  m <- mean(used[[moderator]]); s <- sd(used[[moderator]])
  at <- c("-1 SD" = m - s, "mean" = m, "+1 SD" = m + s)
  slopes <- function(ddf) {
    lapply(names(at), function(a) {
      L <- as.numeric(b == focal) + at[[a]] * as.numeric(b == inter)
      r <- contest1D(fit, L, ddf = ddf)
      list(at = a, moderator_value = at[[a]], slope = r$Estimate, se = r$`Std. Error`,
           df = r$df, t = r$`t value`, p = r$`Pr(>|t|)`)
    })
  }
  crit <- function(ddf) qt(0.975, contest1D(fit, as.numeric(b == inter), ddf = ddf)$df)
  list(id = id, formula = deparse(formula), focal = focal, moderator = moderator,
       satterthwaite = slopes("Satterthwaite"), kenward_roger = slopes("Kenward-Roger"),
       jn_critical = list(satterthwaite = crit("Satterthwaite"), kenward_roger = crit("Kenward-Roger")))
}
firms <- read.csv("tests/reference/data/models_firms.csv")
small <- read.csv("tests/reference/data/lmer_small.csv")
out <- list(
  case("firms", growth ~ degree * social_capital + log_employees + (1 | cluster), firms,
       "degree", "social_capital"),
  case("small", y ~ x * z + (1 | g), small, "x", "z"))
writeLines(toJSON(list(generated_by = "tests/reference/lmer_slopes.R",
                       versions = list(lmerTest = as.character(packageVersion("lmerTest")),
                                       pbkrtest = as.character(packageVersion("pbkrtest")),
                                       lme4 = as.character(packageVersion("lme4"))),
                       cases = out), digits = NA, auto_unbox = TRUE),
           "tests/reference/lmer_slopes.json")
cat("wrote tests/reference/lmer_slopes.json\n")
