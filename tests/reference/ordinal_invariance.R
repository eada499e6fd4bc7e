# Reference values for pipeline.measure.sem.ordinal_groups: measurement invariance of ORDERED items
# by WLSMV (lavaan 0.6 estimator = "WLSMV": DWLS, scaled-shifted test, delta parameterisation)
# with the identification of Wu & Estabrook (2016) as semTools::measEq.syntax writes it
# (ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", parameterization = "delta"), for the levels
#   configural, group.equal = "thresholds", c("thresholds", "loadings"),
#   c("thresholds", "loadings", "intercepts"),
# their fitMeasures(), parameter estimates and lavTestLRT(method = "satorra.2000") between
# consecutive levels (scaled.shifted difference test, as lavTestLRT prints it).
# Data:
#  * tests/reference/data/hs_ordinal_school.csv -- lavaan's HolzingerSwineford1939 (public),
#    groups = school, x1..x9 cut into ordered categories by this rule (pooled quantiles, type 7):
#    x1-x3 and x7-x9: 4 categories at the 25/50/75% quantiles; x4-x6: 3 categories at the
#    33/67% quantiles. Written by this script.
#  * hs_binary: the same with x1, x4, x7 dichotomised (see below; not written to a file).
#  * tests/reference/data/ordinal_invariance_example.csv -- the bundled example study's cleaned
#    5-point items (data/processed/responses.parquet after `socap run`) and region, no ids;
#    listwise deletion of rows with a missing item, first-order model (4 correlated constructs).
# Output: tests/reference/ordinal_invariance.json.   Run from the repository root.
suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
  library(jsonlite)
})
hs <- lavaan::HolzingerSwineford1939
cut_q <- function(x, probs) findInterval(x, quantile(x, probs, type = 7), left.open = TRUE) + 1L
d <- data.frame(school = as.character(hs$school))
for (v in c(paste0("x", 1:3), paste0("x", 7:9))) d[[v]] <- cut_q(hs[[v]], c(.25, .5, .75))
for (v in paste0("x", 4:6)) d[[v]] <- cut_q(hs[[v]], c(1 / 3, 2 / 3))
d <- d[, c("school", paste0("x", 1:9))]
write.csv(d, "tests/reference/data/hs_ordinal_school.csv", row.names = FALSE)
hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"

ex <- read.csv("tests/reference/data/ordinal_invariance_example.csv", stringsAsFactors = FALSE)
ex <- ex[complete.cases(ex), ]
ex_model <- paste(
  "coordination =~ coord_1 + coord_2 + coord_3 + coord_4 + coord_5",
  "cooperation =~ coop_1 + coop_2 + coop_3 + coop_4 + coop_5",
  "reciprocity =~ recip_1 + recip_2 + recip_3 + recip_4 + recip_5",
  "trust =~ trust_1 + trust_2 + trust_3 + trust_4 + trust_5", sep = "\n")

FM <- c("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
        "chisq.scaling.factor", "chisq.shift.parameter", "baseline.chisq", "baseline.df",
        "baseline.chisq.scaled", "cfi", "tli", "rmsea", "cfi.scaled", "tli.scaled",
        "rmsea.scaled", "cfi.robust", "tli.robust", "rmsea.robust", "srmr", "npar")
LEVELS <- list(configural = "", thresholds = "thresholds",
               loadings = c("thresholds", "loadings"),
               intercepts = c("thresholds", "loadings", "intercepts"))

run <- function(model, data, group) {
  items <- lavNames(model, "ov")
  fits <- list()
  out <- list(items = items, groups = unique(data[[group]]),
              n = as.list(table(factor(data[[group]], levels = unique(data[[group]])))))
  for (lv in names(LEVELS)) {
    syn <- measEq.syntax(model, data = data, ordered = items, group = group,
                         ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016",
                         parameterization = "delta", group.equal = LEVELS[[lv]])
    fit <- cfa(as.character(syn), data = data, ordered = items, group = group,
               estimator = "WLSMV", parameterization = "delta")
    fits[[lv]] <- fit
    fm <- fitMeasures(fit, FM)
    pe <- parameterEstimates(fit)
    pe <- pe[pe$op %in% c("=~", "|", "~1", "~*~", "~~"), ]
    out[[lv]] <- list(
      fit = as.list(setNames(as.numeric(fm), gsub("\\.", "_", names(fm)))),
      converged = lavInspect(fit, "converged"),
      params = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group,
                          est = pe$est, se = pe$se))
  }
  lrt <- list()
  nm <- names(LEVELS)
  for (k in 2:length(nm)) {
    t <- lavTestLRT(fits[[nm[k - 1]]], fits[[nm[k]]], method = "satorra.2000")
    lrt[[nm[k]]] <- list(chisq_diff = t[["Chisq diff"]][2], df_diff = t[["Df diff"]][2],
                         p = t[["Pr(>Chisq)"]][2])
  }
  out$lrt <- lrt
  out
}

# binary items too: x1, x4 and x7 of the HS data dichotomised (category >= 3 -> 2, else 1);
# measEq.syntax keeps a binary item's scaling factor at 1 until the intercepts are equal
db <- d
for (v in c("x1", "x4", "x7")) db[[v]] <- ifelse(d[[v]] >= 3, 2L, 1L)

res <- list(
  lavaan = as.character(packageVersion("lavaan")),
  semTools = as.character(packageVersion("semTools")),
  hs = run(hs_model, d, "school"),
  hs_binary = run(hs_model, db, "school"),
  example = run(ex_model, ex, "region"))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           "tests/reference/ordinal_invariance.json")
