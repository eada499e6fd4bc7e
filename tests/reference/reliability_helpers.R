# Shared helpers of the reliability_*.R fixture scripts (sourced; run those from the repo root).
# Each scale's numbers come straight from psych::alpha() and psych::omega(nfactors = 1), the
# sample moments from base R; jsonlite writes them with 15 significant digits, NA as null.
suppressMessages({
  library(psych)
  library(GPArotation)
  library(jsonlite)
})

# Base-R sample moments of an item matrix (the oracle for pipeline/moments.py).
moments_of <- function(x) {
  x <- as.matrix(x)
  cc <- x[complete.cases(x), , drop = FALSE]
  list(
    items = colnames(x),
    n_rows = nrow(x),
    n_valid = unname(colSums(!is.na(x))),
    n_pairwise = unname(pairwiseCount(x)),
    means = unname(colMeans(x, na.rm = TRUE)),
    sds = unname(apply(x, 2, sd, na.rm = TRUE)),
    cov_pairwise = unname(cov(x, use = "pairwise")),
    cor_pairwise = unname(suppressWarnings(cor(x, use = "pairwise"))),
    n_complete = nrow(cc),
    mean_complete = unname(colMeans(cc)),
    cov_complete = unname(cov(cc))
  )
}

# psych::alpha and psych::omega(nfactors = 1) of one scale.
scale_stats <- function(d, items) {
  x <- d[, items, drop = FALSE]
  out <- list(items = I(items), n_rows = nrow(x))
  if (length(items) < 2) {
    out$alpha <- NA
    return(out)
  }
  a <- suppressWarnings(alpha(x, warnings = FALSE))
  tot <- a$total
  out$alpha <- tot$raw_alpha
  out$std_alpha <- tot$std.alpha
  out$average_r <- tot$average_r
  out$feldt <- c(a$feldt$lower.ci[[1]], a$feldt$upper.ci[[1]])
  out$n_items <- a$nvar
  # psych::alpha's reverse-keying check: items loading negatively on the first principal
  # component of the items it kept
  p1 <- suppressWarnings(principal(x[, rownames(a$item.stats)], scores = FALSE))
  out$negative_pc1 <- I(rownames(p1$loadings)[p1$loadings < 0])
  st <- a$item.stats
  used <- rownames(st)
  out$used <- used
  drop <- a$alpha.drop
  out$item_stats <- lapply(setNames(used, used), function(it) list(
    n = st[it, "n"], mean = st[it, "mean"], sd = st[it, "sd"],
    r_drop = st[it, "r.drop"], r_cor = st[it, "r.cor"], std_r = st[it, "std.r"],
    alpha_if_deleted = if (length(used) > 2) drop[it, "raw_alpha"] else NA,
    missing = 1 - st[it, "n"] / nrow(x)))
  # omega needs >= 3 items; psych::omega stops on NA correlations, so it is given the items
  # psych::alpha kept (those with variance), as socap does.
  if (length(used) >= 3) {
    om <- suppressWarnings(suppressMessages(
      omega(x[, used], nfactors = 1, plot = FALSE)))
    out$omega_total <- om$omega.tot
  } else {
    out$omega_total <- NA
  }
  out
}

write_fixture <- function(out, path) {
  write_json(out, path, digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE)
  cat("wrote", path, "\n")
}
