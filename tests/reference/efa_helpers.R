# Shared helpers of the efa_*.R fixture scripts (sourced; run those from the repo root).
# Everything is psych 2.2.9 / GPArotation called on the raw item data, as a reviewer would.
suppressMessages({
  library(psych)
  library(GPArotation)
  library(jsonlite)
})
# psych::fa.parallel draws its data sets with parallel::mclapply; with several cores the draws
# depend on scheduling and set.seed() does not reproduce them. One core makes fixtures repeatable.
options(mc.cores = 1)

one_fit <- function(x, k, fm, rotate) {
  f <- suppressWarnings(fa(x, nfactors = k, fm = fm, rotate = rotate, warnings = FALSE))
  L <- unclass(f$loadings)
  va <- f$Vaccounted
  list(
    method = fm, rotation = rotate, nfactors = k,
    columns = colnames(L),
    loadings = unname(L),
    Phi = if (is.null(f$Phi)) NULL else unname(f$Phi),
    communality = unname(f$communality),
    uniquenesses = unname(f$uniquenesses),
    ss_loadings = unname(va["SS loadings", ]),
    proportion = unname(va["Proportion Var", ]),
    cumulative = if (k > 1) unname(va["Cumulative Var", ]) else unname(va["Proportion Var", ]),
    e_values = unname(f$e.values),
    fit = list(chi2 = f$STATISTIC, df = f$dof, p = if (is.null(f$PVAL)) NA else f$PVAL,
               tli = if (is.null(f$TLI)) NA else f$TLI,
               rmsea = if (is.null(f$RMSEA)) NA else unname(f$RMSEA[1]),
               rmsea_ci = if (is.null(f$RMSEA)) c(NA, NA) else unname(f$RMSEA[2:3]),
               bic = if (is.null(f$BIC)) NA else f$BIC)
  )
}

efa_fixture <- function(x, fits, data_path, seeds = 1:10, n_iter_big = 200) {
  x <- as.data.frame(x)
  r <- cor(x, use = "pairwise")
  n <- nrow(x)
  k <- KMO(r)
  b <- cortest.bartlett(r, n = n)
  # parallel analysis with psych's defaults (n.iter = 20) for several seeds: the suggestion on
  # data with a clear structure must not depend on the seed
  sugg <- t(sapply(seeds, function(s) {
    set.seed(s)
    p <- suppressWarnings(suppressMessages(fa.parallel(x, plot = FALSE)))
    c(seed = s, ncomp = p$ncomp, nfact = p$nfact)
  }))
  # a long run to check the simulated eigenvalue distribution (mean and 95th percentile)
  set.seed(2024)
  pl <- suppressWarnings(suppressMessages(fa.parallel(x, plot = FALSE, n.iter = n_iter_big)))
  p <- ncol(x)
  vals <- pl$values
  sim_pc <- vals[, paste0("CSim", 1:p), drop = FALSE]
  sim_fa <- vals[, paste0("Fsim", 1:p), drop = FALSE]
  v <- suppressWarnings(suppressMessages(VSS(x, n = 8, plot = FALSE)))
  list(
    data = data_path,
    psych = as.character(packageVersion("psych")),
    GPArotation = as.character(packageVersion("GPArotation")),
    items = colnames(x),
    n = n,
    kmo = k$MSA,
    kmo_items = unname(k$MSAi),
    bartlett = list(chi2 = b$chisq, df = b$df, p = b$p.value),
    eigenvalues = unname(pl$pc.values),
    fa_values = unname(pl$fa.values),
    kaiser = sum(pl$pc.values > 1),
    parallel_by_seed = lapply(seq_len(nrow(sugg)), function(i) as.list(sugg[i, ])),
    parallel_long = list(
      n_iter = n_iter_big,
      pc_sim_mean = unname(colMeans(sim_pc)),
      pc_sim_q95 = unname(apply(sim_pc, 2, quantile, 0.95)),
      fa_sim_mean = unname(colMeans(sim_fa)),
      fa_sim_q95 = unname(apply(sim_fa, 2, quantile, 0.95)),
      ncomp = pl$ncomp, nfact = pl$nfact
    ),
    map = unname(v$map),
    map_best = which.min(v$map),
    fits = lapply(fits, function(f) one_fit(x, f$k, f$fm, f$rotate))
  )
}

write_fixture <- function(out, path) {
  write_json(out, path, digits = NA, auto_unbox = TRUE, na = "null", null = "null",
             pretty = FALSE)
  cat("wrote", path, "\n")
}

grid <- function(ks, fms, rotations) {
  out <- list()
  for (k in ks) for (fm in fms) for (rot in rotations)
    out[[length(out) + 1]] <- list(k = k, fm = fm, rotate = rot)
  out
}
