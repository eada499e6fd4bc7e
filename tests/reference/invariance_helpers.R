# Helpers for the invariance fixtures of a model with (or without) a second-order factor:
# the identified lavaan scalar model of a second-order model, and socap's partial-invariance
# search written out in lavaan (fit, compare by delta CFI / RMSEA, lavTestScore, free the largest
# significant constraint that keeps two invariant indicators per factor, refit).
# Sourced by invariance_second_order.R (after cfa_common.R).

# lavaan syntax: first-order factors (named list of items) and second-order factors (named list
# of first-order factors). With `fix_higher_means`, `H ~ c(0, 0, ...)*1` for every second-order
# factor H: lavaan's group.equal = c("loadings", "intercepts") frees the means of ALL latent
# variables in groups 2..G, which for a second-order model is not identified (the first-order
# intercepts and the second-order mean enter the item means only through their sum; lavaan warns
# that vcov is not positive definite and counts one parameter per group too many in df). Fixing
# the second-order mean at 0 is the identified equivalent: the same chi-square, correct df.
# With `second_scalar` (second-order scalar invariance): the first-order factors under a
# second-order factor keep their intercepts at 0 in every group, the second-order means are free
# in groups 2..G ("F ~ c(0, 0)*1; H ~ c(0, NA)*1").
model_syntax <- function(first, higher = list(), n_groups = 2, fix_higher_means = FALSE,
                         second_scalar = FALSE) {
  lines <- c(sprintf("%s =~ %s", names(first), vapply(first, paste, "", collapse = " + ")))
  if (length(higher)) {
    lines <- c(lines, sprintf("%s =~ %s", names(higher),
                              vapply(higher, paste, "", collapse = " + ")))
    if (second_scalar) {
      zeros <- paste0("c(", paste(rep("0", n_groups), collapse = ", "), ")")
      free <- paste0("c(0, ", paste(rep("NA", n_groups - 1), collapse = ", "), ")")
      lines <- c(lines, sprintf("%s ~ %s*1", unlist(higher), zeros),
                 sprintf("%s ~ %s*1", names(higher), free))
    } else if (fix_higher_means) {
      zeros <- paste0("c(", paste(rep("0", n_groups), collapse = ", "), ")")
      lines <- c(lines, sprintf("%s ~ %s*1", names(higher), zeros))
    }
  }
  paste(lines, collapse = "\n")
}

invariance_fits <- function(first, higher, d, group, partial = character(0)) {
  ng <- length(unique(d[[group]]))
  m <- model_syntax(first, higher, ng)
  m0 <- model_syntax(first, higher, ng, fix_higher_means = TRUE)
  list(
    configural = cfa(m, data = d, group = group),
    metric = cfa(m, data = d, group = group, group.equal = "loadings"),
    scalar = cfa(m0, data = d, group = group, group.equal = c("loadings", "intercepts"))
  )
}

# TRUE when the more constrained fit holds against the base (socap's default criteria)
level_holds <- function(fit, base, d_cfi = 0.01, d_rmsea = 0.015) {
  a <- fitMeasures(fit, c("cfi", "rmsea"))
  b <- fitMeasures(base, c("cfi", "rmsea"))
  lavInspect(fit, "converged") && (a[["cfi"]] - b[["cfi"]] >= -d_cfi - 1e-12) &&
    (a[["rmsea"]] - b[["rmsea"]] <= d_rmsea + 1e-12)
}

# can parameter `param` ("f=~x" or "x~1") be freed, keeping two invariant indicators per factor?
freeable <- function(param, freed, first, higher) {
  loads <- c(first, higher)
  if (grepl("=~", param, fixed = TRUE)) {
    parts <- strsplit(param, "=~", fixed = TRUE)[[1]]
    inds <- loads[[parts[1]]][-1]                      # non-marker indicators
    still <- setdiff(inds[!paste0(parts[1], "=~", inds) %in% freed], parts[2])
    return(length(still) >= 1)                         # + the marker = two invariant loadings
  }
  item <- sub("~1$", "", param)
  for (f in names(first)) {
    if (item %in% first[[f]]) {
      inds <- first[[f]]
      still <- setdiff(inds[!paste0(inds, "~1") %in% freed], item)
      return(length(still) >= 2)
    }
  }
  FALSE
}

# socap's _partial_search: returns the parameters freed in order, the final fit and its score tests
partial_search <- function(first, higher, d, group, equal, op, base, start = character(0)) {
  ng <- length(unique(d[[group]]))
  m <- model_syntax(first, higher, ng, fix_higher_means = "intercepts" %in% equal)
  freed <- start
  steps <- list()
  for (step in seq_len(sum(lengths(first)))) {
    fit <- if (length(freed)) {
      cfa(m, data = d, group = group, group.equal = equal, group.partial = freed)
    } else cfa(m, data = d, group = group, group.equal = equal)
    holds <- level_holds(fit, base)
    st <- dump_score_tests(fit)
    steps[[step]] <- list(freed = freed, fit = dump_fit(fit), holds = holds, score = st)
    if (holds) break
    kind <- if (op == "=~") grepl("=~", st$param, fixed = TRUE) else grepl("~1$", st$param)
    cand <- st[kind & st$p < 0.05, ]
    cand <- cand[order(-cand$X2), ]
    ok <- vapply(cand$param, freeable, TRUE, freed = freed, first = first, higher = higher)
    if (!any(ok)) break
    freed <- c(freed, cand$param[ok][1])
  }
  list(freed = freed, holds = holds, steps = steps, fit = fit)
}

# socap's whole sequence (pipeline.measure.cfa._invariance_models): configural, metric, scalar,
# the level reached, and the partial search from the first level that failed
invariance_sequence <- function(first, higher, d, group, cfi_min = 0.90, rmsea_max = 0.10) {
  f <- invariance_fits(first, higher, d, group)
  fc <- fitMeasures(f$configural, c("cfi", "rmsea"))
  conf_ok <- lavInspect(f$configural, "converged") && fc[["cfi"]] >= cfi_min &&
    fc[["rmsea"]] <= rmsea_max
  level <- if (!conf_ok) "none" else if (!level_holds(f$metric, f$configural)) "configural" else
    if (!level_holds(f$scalar, f$metric)) "metric" else "scalar"
  pm <- ps <- NULL
  partial_level <- NULL
  means_fit <- if (level == "scalar") f$scalar else NULL
  if (level == "configural") {
    pm <- partial_search(first, higher, d, group, "loadings", "=~", f$configural)
    if (pm$holds && length(pm$freed)) {
      partial_level <- "partial metric"
      ps <- partial_search(first, higher, d, group, c("loadings", "intercepts"), "~1", pm$fit,
                           start = pm$freed)
      if (ps$holds) {
        partial_level <- "partial scalar"
        means_fit <- ps$fit
      }
    }
  } else if (level == "metric") {
    ps <- partial_search(first, higher, d, group, c("loadings", "intercepts"), "~1", f$metric)
    if (ps$holds && length(ps$freed)) {
      partial_level <- "partial scalar"
      means_fit <- ps$fit
    }
  }
  lv <- names(first)
  means <- NULL
  second <- NULL
  cols <- c("lhs", "group", "est", "se", "z", "pvalue", "ci.lower", "ci.upper")
  if (!is.null(means_fit)) {
    pe <- parameterEstimates(means_fit)
    means <- pe[pe$op == "~1" & pe$lhs %in% lv & pe$group > 1, cols]
    if (length(higher)) {
      # second-order scalar, against the (partial) scalar model the latent means come from
      keep <- if (level == "scalar") character(0) else ps$freed
      m2 <- model_syntax(first, higher, length(unique(d[[group]])), second_scalar = TRUE)
      f2 <- if (length(keep)) {
        cfa(m2, data = d, group = group, group.equal = c("loadings", "intercepts"),
            group.partial = keep)
      } else cfa(m2, data = d, group = group, group.equal = c("loadings", "intercepts"))
      holds2 <- level_holds(f2, means_fit)
      second <- list(fit = dump_fit(f2), holds = holds2, freed = keep)
      if (holds2) {
        pe2 <- parameterEstimates(f2)
        means <- rbind(means, pe2[pe2$op == "~1" & pe2$lhs %in% names(higher) & pe2$group > 1,
                                  cols])
      }
    }
  }
  strip <- function(s) if (is.null(s)) NULL else
    list(freed = s$freed, holds = s$holds, fit = dump_fit(s$fit),
         steps = lapply(s$steps, function(x) list(freed = x$freed, holds = x$holds,
                                                  chisq = x$fit[["chisq"]], cfi = x$fit[["cfi"]],
                                                  score = x$score)))
  list(
    groups = lavInspect(f$configural, "group.label"),
    nobs = lavInspect(f$configural, "nobs"),
    configural = list(fit = dump_fit(f$configural)),
    metric = list(fit = dump_fit(f$metric), score = dump_score_tests(f$metric)),
    scalar = list(fit = dump_fit(f$scalar), score = dump_score_tests(f$scalar)),
    lrt = {
      lrt <- lavTestLRT(f$configural, f$metric, f$scalar)
      list(chisq_diff = lrt[["Chisq diff"]], df_diff = lrt[["Df diff"]], p = lrt[["Pr(>Chisq)"]])
    },
    level_reached = level, partial_level = partial_level,
    partial_metric = strip(pm), partial_scalar = strip(ps),
    second_order_scalar = second,
    latent_means = means
  )
}
