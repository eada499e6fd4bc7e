# Reference values for pipeline/levels.py: ICC(1), ICC(2), rwg(j) from R's multilevel package.
# Run from the repository root:  Rscript tests/reference/levels_multilevel.R
# Writes tests/reference/data/levels_lq2002.csv (the input, a subset of multilevel::lq2002 with
# unbalanced units, single-respondent units and missing answers) and
# tests/reference/levels_multilevel.json (the expected values).
suppressMessages({library(multilevel); library(jsonlite)})
data(lq2002)
set.seed(20260101)
d <- lq2002
# Unbalanced units: keep a random share of each company's soldiers (between 1 and all).
keep <- unlist(lapply(split(seq_len(nrow(d)), d$COMPID), function(rows) {
  k <- sample(c(1, 1, 2, 3, 5, 8, 12, length(rows)), 1)
  rows[sort(sample.int(length(rows), min(k, length(rows))))]
}))
d <- d[keep, ]
items <- list(
  leadership = sprintf("LEAD%02d", 1:11),
  task_significance = sprintf("TSIG%02d", 1:3),
  hostility = sprintf("HOSTIL%02d", 1:5)
)
# Some missing answers (about 3% of item cells).
for (it in unlist(items)) d[runif(nrow(d)) < 0.03, it] <- NA
out <- data.frame(
  respondent = sprintf("R%04d", seq_len(nrow(d))),
  firm_id = sprintf("%04d", d$COMPID),            # text ids with leading zeros
  cluster = paste0("C", (d$COMPID %% 5) + 1)      # five clusters; a unit is in one cluster
)
for (it in unlist(items)) out[[it]] <- d[[it]]
# Construct scores: mean of the valid items; a respondent missing more than half has no score.
for (c in names(items)) {
  x <- as.matrix(out[, items[[c]]])
  sc <- rowMeans(x, na.rm = TRUE)
  sc[rowSums(is.na(x)) > length(items[[c]]) / 2] <- NA
  out[[c]] <- sc
}
out$social_capital <- rowMeans(out[, c("leadership", "task_significance")])  # higher-order
write.csv(out, "tests/reference/data/levels_lq2002.csv", row.names = FALSE, na = "")

d <- read.csv("tests/reference/data/levels_lq2002.csv", colClasses = c(firm_id = "character"))
scales <- list(leadership = c(1, 5), task_significance = c(1, 5), hostility = c(0, 4))
scores <- c(names(items), "social_capital")

level_stats <- function(d, grp) {
  res <- list()
  for (s in scores) {
    a <- aov(d[[s]] ~ as.factor(d[[grp]]))
    tab <- summary(a)[[1]]
    r <- list(icc1 = ICC1(a), icc2 = ICC2(a), f = tab[1, 4], df1 = tab[1, 1], df2 = tab[2, 1],
              p = tab[1, 5], n_units = tab[1, 1] + 1,
              mean_group_size = (tab[2, 1] + tab[1, 1] + 1) / (tab[1, 1] + 1))
    if (s %in% names(items)) {
      A <- diff(scales[[s]]) + 1
      rw <- rwg.j(d[, items[[s]]], d[[grp]], ranvar = (A^2 - 1) / 12)
      v <- rw$rwg.j[!is.na(rw$rwg.j)]
      r$rwg_j_mean <- mean(v); r$rwg_j_median <- median(v); r$rwg_j_share_70 <- mean(v >= 0.70)
      r$rwg_j <- setNames(as.list(rw$rwg.j), as.character(rw$grpid))
    }
    res[[s]] <- r
  }
  res
}
unit_means <- function(d) {
  m <- lapply(scores, function(s) {
    v <- tapply(d[[s]], d$firm_id, mean, na.rm = TRUE)
    as.list(ifelse(is.nan(v), NA, v))
  })
  names(m) <- scores
  m$n_respondents <- as.list(table(d$firm_id))
  m
}
n_resp <- table(d$firm_id)
d3 <- d[d$firm_id %in% names(n_resp)[n_resp >= 3], ]
res <- list(
  r_version = R.version.string,
  multilevel_version = as.character(packageVersion("multilevel")),
  n_respondents = nrow(d),
  all = list(units = unit_means(d), unit_level = level_stats(d, "firm_id"),
             group_level = level_stats(d, "cluster")),
  min3 = list(units = unit_means(d3), unit_level = level_stats(d3, "firm_id"),
              group_level = level_stats(d3, "cluster"))
)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           "tests/reference/levels_multilevel.json")
