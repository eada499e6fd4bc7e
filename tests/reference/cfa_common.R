# Shared helpers for the CFA / invariance reference fixtures (sourced by cfa_*.R, invariance_*.R).
# Run the calling scripts from the repository root, e.g. `Rscript tests/reference/cfa_hs.R`.
suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
  library(jsonlite)
})

# every fitMeasures() value, as a named list
dump_fit <- function(fit) {
  fm <- fitMeasures(fit)
  as.list(setNames(as.numeric(fm), names(fm)))
}

# parameterEstimates() joined with standardizedSolution() (std.all, delta-method SE)
dump_params <- function(fit) {
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit)
  keep <- c("lhs", "op", "rhs", "est", "se")
  if ("group" %in% names(pe)) keep <- c(keep, "group")
  out <- pe[, keep]
  out$std <- ss$est.std
  out$std_se <- ss$se
  out
}

dump_modindices <- function(fit, top = 40) {
  mi <- modindices(fit, sort. = TRUE)
  mi <- mi[mi$op %in% c("=~", "~~"), c("lhs", "op", "rhs", "mi", "epc", "sepc.all")]
  head(mi, top)
}

# univariate score tests of the equality constraints, with the constrained parameters named
dump_score_tests <- function(fit) {
  st <- lavTestScore(fit)
  pt <- parTable(fit)
  uni <- st$uni
  name_of <- function(lab) {
    i <- match(lab, pt$plabel)
    paste0(pt$lhs[i], pt$op[i], pt$rhs[i])
  }
  grp_of <- function(lab) pt$group[match(lab, pt$plabel)]
  data.frame(
    lhs = uni$lhs, rhs = uni$rhs,
    param = name_of(uni$lhs),
    group_lhs = grp_of(uni$lhs), group_rhs = grp_of(uni$rhs),
    X2 = uni$X2, df = uni$df, p = uni$p.value,
    stringsAsFactors = FALSE
  )
}

write_fixture <- function(x, path) {
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE), path)
  cat("wrote", path, "\n")
}
