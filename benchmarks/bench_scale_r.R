# The R baseline of benchmarks/bench_scale.py: the same statistics an R user computes for a
# social-capital survey, with the reference packages (psych, lavaan, multilevel, sandwich, lmtest),
# on the study folder socap runs on.
#
#   Rscript benchmarks/bench_scale_r.R STUDY SPEC.json
#
# SPEC.json (written by bench_scale.py from the study's instrument) names the survey file, the
# constructs with their items, the reverse-keyed items, the missing codes and the scale.
# Prints one JSON line of stage times (seconds) on stdout. Steps:
#   read     data.table::fread (R's fastest csv reader; base read.csv is several times slower)
#   clean    missing codes -> NA, numeric, reverse keying, unfinished and preview responses dropped
#   alpha    psych::alpha per construct
#   kmo      psych::KMO and psych::cortest.bartlett on the pairwise correlations
#   efa      psych::fa(nfactors = <constructs>, fm = "ml", rotate = "oblimin")
#   cfa      lavaan::cfa, one factor per construct plus the second-order factor
#   icc      multilevel::ICC1 / ICC2 of each construct's mean score between units
#   model    unit means joined to the unit table, degree from the tie list, Poisson GLM of the
#            catalytic model with cluster-robust SEs (sandwich::vcovCL + lmtest::coeftest)

suppressPackageStartupMessages({
  library(jsonlite)
  library(data.table)
  library(psych)
  library(lavaan)
  library(multilevel)
  library(sandwich)
  library(lmtest)
})

args <- commandArgs(trailingOnly = TRUE)
study <- args[1]
spec <- fromJSON(args[2], simplifyVector = FALSE)
times <- list()
t0 <- proc.time()[["elapsed"]]
lap <- function(name) {
  t <- proc.time()[["elapsed"]]
  times[[name]] <<- t - t0
  t0 <<- t
}

survey <- fread(file.path(study, spec$survey), colClasses = "character", showProgress = FALSE)
lap("read")

items <- unlist(lapply(spec$constructs, unlist))
codes <- unlist(spec$missing)
for (it in items) {
  v <- survey[[it]]
  v[v %in% codes | v == ""] <- NA
  set(survey, j = it, value = as.numeric(v))
}
for (it in unlist(spec$reverse)) {
  set(survey, j = it, value = spec$min + spec$max - survey[[it]])
}
keep <- rep(TRUE, nrow(survey))
if ("Finished" %in% names(survey)) keep <- keep & survey$Finished %in% c("True", "TRUE", "1")
if ("Status" %in% names(survey)) keep <- keep & !(survey$Status %in% c("Survey Preview", "Spam"))
survey <- survey[keep]
x <- as.data.frame(survey[, ..items])
lap("clean")

alphas <- sapply(names(spec$constructs), function(c) {
  psych::alpha(x[, unlist(spec$constructs[[c]])], check.keys = FALSE, warnings = FALSE)$total$raw_alpha
})
lap("alpha")

r <- cor(x, use = "pairwise")
kmo <- psych::KMO(r)$MSA
bart <- psych::cortest.bartlett(r, n = nrow(x))
lap("kmo")

efa <- psych::fa(x, nfactors = length(spec$constructs), fm = "ml", rotate = "oblimin")
lap("efa")

model <- paste(sapply(names(spec$constructs), function(c)
  paste(c, "=~", paste(unlist(spec$constructs[[c]]), collapse = " + "))), collapse = "\n")
model <- paste0(model, "\n", spec$higher_name, " =~ ",
                paste(names(spec$constructs), collapse = " + "))
fit <- lavaan::cfa(model, data = x)
fm <- fitMeasures(fit, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))
lap("cfa")

scores <- sapply(names(spec$constructs), function(c)
  rowMeans(x[, unlist(spec$constructs[[c]])], na.rm = TRUE))
unit <- factor(survey[[spec$unit]])
icc <- sapply(colnames(scores), function(c) {
  a <- aov(scores[, c] ~ unit)
  c(icc1 = multilevel::ICC1(a), icc2 = multilevel::ICC2(a))
})
lap("icc")

sc <- rowMeans(scores, na.rm = TRUE)
unit_sc <- tapply(sc, unit, mean, na.rm = TRUE)
firms <- fread(file.path(study, spec$units_file), colClasses = list(character = spec$unit_id))
ties <- fread(file.path(study, spec$ties_file), colClasses = "character")
ends <- unique(rbind(data.frame(a = ties$source, b = ties$target),
                     data.frame(a = ties$target, b = ties$source)))
ends <- ends[ends$a != ends$b, ]
deg <- table(ends$a)
firms$social_capital <- as.numeric(unit_sc[firms[[spec$unit_id]]])
firms$degree <- as.numeric(deg[firms[[spec$unit_id]]])
firms$degree[is.na(firms$degree)] <- 0
firms <- firms[!is.na(firms$social_capital)]
firms$degree <- as.numeric(scale(firms$degree))
firms$social_capital <- as.numeric(scale(firms$social_capital))
glm_fit <- glm(as.formula(spec$formula), family = poisson, data = firms)
ct <- coeftest(glm_fit, vcov. = vcovCL(glm_fit, cluster = firms[[spec$cluster]]))
lap("model")

cat(toJSON(list(times = times, n = nrow(x), alpha = unname(alphas), kmo = kmo,
                cfi = unname(fm["cfi"]), interaction = unname(ct[grep(":", rownames(ct))[1], 1])),
           auto_unbox = TRUE, digits = 6), "\n")
