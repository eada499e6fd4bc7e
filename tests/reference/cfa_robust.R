# Reference values for FIML (missing = "ml") and MLR (Yuan-Bentler-Mplus scaled test, Huber-White
# and cluster-robust SEs, robust CFI/TLI/RMSEA) in pipeline.measure.sem, from lavaan 0.6.
# Data:
#   tests/reference/data/hs_missing.csv: lavaan's HolzingerSwineford1939 (public) with missing
#     answers made by the seeded rule below and a classroom column (50 clusters) for cluster-robust
#     SEs. Rule (set.seed(20261204)): x1 stays complete (it drives the MAR part);
#       MAR:  x5 and x6 both missing with probability plogis(-1.5 + 1.2 * z(x1));
#             x9 missing with probability plogis(-2 + 0.8 * z(x2)) (x2 observed or not);
#       MCAR: every cell of x2, x3, x4, x7, x8 missing with probability 0.08;
#       two respondents with every item missing (lavaan drops them with a warning).
#     classroom = school-specific random assignment of pupils to 25 classes per school.
#   tests/reference/data/cfa_socap.csv (the socap example instrument, from cfa_socap.R) with
#     MCAR missingness 5% per cell (seeded) for the second-order model under MLR + FIML.
# Run from the repository root: Rscript tests/reference/cfa_robust.R
# Output: tests/reference/cfa_robust.json
source("tests/reference/cfa_common.R")
set.seed(20261204)
hs <- HolzingerSwineford1939
n <- nrow(hs)
z <- function(v) (v - mean(v)) / sd(v)
d <- hs[, c("id", "school", paste0("x", 1:9))]
d$classroom <- NA_character_
for (s in unique(d$school)) {
  rows <- which(d$school == s)
  d$classroom[rows] <- paste0(substr(s, 1, 1), sample(rep(1:25, length.out = length(rows))))
}
p56 <- plogis(-1.5 + 1.2 * z(hs$x1))
m56 <- runif(n) < p56
d$x5[m56] <- NA
d$x6[m56] <- NA
m9 <- runif(n) < plogis(-2 + 0.8 * z(hs$x2))
d$x9[m9] <- NA
for (v in c("x2", "x3", "x4", "x7", "x8")) d[[v]][runif(n) < 0.08] <- NA
empty <- sample(n, 2)
d[empty, paste0("x", 1:9)] <- NA
write.csv(d, "tests/reference/data/hs_missing.csv", row.names = FALSE, na = "")

d <- read.csv("tests/reference/data/hs_missing.csv")
full <- read.csv("tests/reference/data/holzinger1939.csv")
full$classroom <- d$classroom
model <- "
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"
keys <- c("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
          "chisq.scaling.factor", "baseline.chisq", "baseline.df", "baseline.chisq.scaled",
          "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled", "tli.scaled",
          "cfi.robust", "tli.robust", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
          "rmsea.pvalue", "rmsea.scaled", "rmsea.robust", "rmsea.ci.lower.robust",
          "rmsea.ci.upper.robust", "srmr", "logl", "unrestricted.logl", "aic", "bic", "bic2",
          "npar", "ntotal")
dump <- function(fit, scores = FALSE) {
  fm <- fitMeasures(fit)
  fm <- fm[intersect(keys, names(fm))]
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  out <- list(
    fit = as.list(setNames(as.numeric(fm), names(fm))),
    params = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
                        std = ss$est.std, std_se = ss$se),
    options = list(se = lavInspect(fit, "options")$se,
                   information = lavInspect(fit, "options")$information[1],
                   test = lavInspect(fit, "options")$test),
    nobs = lavInspect(fit, "nobs"),
    converged = lavInspect(fit, "converged")
  )
  if (scores) out$scores <- lavPredict(fit, method = "regression")
  out
}
out <- list(
  lavaan = as.character(packageVersion("lavaan")),
  empty_rows = sort(empty),
  fiml_ml = dump(cfa(model, data = d, missing = "ml"), scores = TRUE),
  h1 = {
    f <- cfa(model, data = d, missing = "ml")
    h1 <- lavInspect(f, "sampstat.h1")
    list(cov = unclass(h1$cov), mean = as.numeric(h1$mean))
  },
  mlr_complete = dump(cfa(model, data = full, estimator = "MLR")),
  mlr_listwise = dump(cfa(model, data = d, estimator = "MLR")),
  mlr_fiml = dump(cfa(model, data = d, estimator = "MLR", missing = "ml")),
  mlr_cluster = dump(cfa(model, data = full, estimator = "MLR", cluster = "classroom")),
  mlr_cluster_fiml = dump(cfa(model, data = d, estimator = "MLR", missing = "ml",
                              cluster = "classroom"))
)

# the socap example instrument: second-order model, MLR + FIML
set.seed(20261205)
s <- read.csv("tests/reference/data/cfa_socap.csv")
items <- setdiff(names(s), "id")
for (v in items) s[[v]][runif(nrow(s)) < 0.05] <- NA
write.csv(s, "tests/reference/data/cfa_socap_missing.csv", row.names = FALSE, na = "")
s <- read.csv("tests/reference/data/cfa_socap_missing.csv")
socap <- "
coordination =~ coordination_1 + coordination_2 + coordination_3 + coordination_4
cooperation  =~ cooperation_1 + cooperation_2 + cooperation_3 + cooperation_4
reciprocity  =~ reciprocity_1 + reciprocity_2 + reciprocity_3 + reciprocity_4
trust        =~ trust_1 + trust_2 + trust_3 + trust_4
social_capital =~ coordination + cooperation + reciprocity + trust
"
out$socap_mlr_fiml <- dump(cfa(socap, data = s, estimator = "MLR", missing = "ml"))
out$socap_ml_fiml <- dump(cfa(socap, data = s, missing = "ml"))
write_fixture(out, "tests/reference/cfa_robust.json")
