# Reference values for pipeline.models.mixed.lmer_ddf: denominator degrees of freedom of the
# fixed effects of a random-intercept lmer, as lmerTest::summary(fit, ddf = "Satterthwaite") and
# summary(fit, ddf = "Kenward-Roger") (pbkrtest::vcovAdj's adjusted covariance and
# Kenward & Roger's df). Two cases: the firms of tests/reference/data/models_firms.csv (30
# clusters) with the catalytic model, and a small unbalanced design simulated here (8 groups of
# 2-9 rows, a group-level and a row-level predictor): tests/reference/data/lmer_small.csv.
# Output: tests/reference/lmer_ddf.json
suppressPackageStartupMessages({library(lmerTest); library(pbkrtest); library(jsonlite)})
table_of <- function(fit, ddf) {
  s <- summary(fit, ddf = ddf)$coefficients
  out <- list()
  for (k in rownames(s)) out[[k]] <- list(estimate = s[k, "Estimate"], se = s[k, "Std. Error"],
                                          df = s[k, "df"], t = s[k, "t value"], p = s[k, "Pr(>|t|)"])
  out
}
case <- function(id, formula, data) {
  fit <- lmer(formula, data = data, REML = TRUE)
  vc <- as.data.frame(VarCorr(fit))
  list(id = id, formula = deparse(formula), n = nrow(data),
       tau2 = vc$vcov[1], sigma2 = vc$vcov[2],
       satterthwaite = table_of(fit, "Satterthwaite"), kenward_roger = table_of(fit, "Kenward-Roger"),
       vcov_kr = unname(as.matrix(vcovAdj(fit))))
}
firms <- read.csv("tests/reference/data/models_firms.csv")
set.seed(77)
J <- 8
nj <- c(2, 3, 9, 4, 5, 2, 7, 6)
g <- rep(sprintf("g%d", 1:J), nj)
z <- rep(rnorm(J), nj)                 # group-level predictor
x <- rnorm(sum(nj))                    # row-level predictor
y <- 1 + 0.5 * x + 0.4 * z + rep(rnorm(J, 0, 0.8), nj) + rnorm(sum(nj))
small <- data.frame(g = g, x = round(x, 4), z = round(z, 4), y = round(y, 4))
write.csv(small, "tests/reference/data/lmer_small.csv", row.names = FALSE)
small <- read.csv("tests/reference/data/lmer_small.csv")
out <- list(
  case("firms", growth ~ degree * social_capital + log_employees + (1 | cluster), firms),
  case("small", y ~ x + z + (1 | g), small))
writeLines(toJSON(list(generated_by = "tests/reference/lmer_ddf.R",
                       versions = list(lmerTest = as.character(packageVersion("lmerTest")),
                                       pbkrtest = as.character(packageVersion("pbkrtest")),
                                       lme4 = as.character(packageVersion("lme4"))),
                       cases = out), digits = NA, auto_unbox = TRUE),
           "tests/reference/lmer_ddf.json")
cat("wrote tests/reference/lmer_ddf.json\n")
