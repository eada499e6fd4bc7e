# Reference values for pipeline.clean.quality's careless-responding indices.
# Data: careless::careless_dataset (200 respondents x 50 items, 10 scales of 5), written to
# tests/reference/data/careless_dataset.csv by this script from the package's .rda, with
# missing cells set by a seeded rule (5% of cells, plus one row missing every item and one
# row answering one item) so that the NA handling is compared too.
# Run from the repository root: Rscript tests/reference/careless_indices.R [path/to/careless_dataset.rda]
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/careless_functions.R")
args <- commandArgs(trailingOnly = TRUE)
csv <- "tests/reference/data/careless_dataset.csv"
if (length(args) >= 1) {
  load(args[1])  # careless_dataset, from the careless repository's data/careless_dataset.rda
  x <- as.matrix(careless_dataset)
  set.seed(2026)
  x[matrix(runif(length(x)) < 0.05, nrow(x))] <- NA
  x[7, ] <- NA
  x[8, -3] <- NA
  write.csv(data.frame(id = sprintf("r%03d", seq_len(nrow(x))), x), csv, row.names = FALSE,
            na = "")
}
d <- read.csv(csv)
x <- d[, -1]  # a data frame, as careless documents (evenodd needs its column names)
out <- list(
  n = nrow(x), p = ncol(x),
  longstring = longstring(x),
  irv = irv(x),
  mahad = mahad(x, plot = FALSE),
  mahad_cut_999 = qchisq(0.999, ncol(x)),
  mahad_flag_999 = mahad(x, plot = FALSE, flag = TRUE, confidence = 0.999)$flagged,
  evenodd = evenodd(x, rep(5, 10))
)
writeLines(toJSON(out, digits = NA, na = "null", auto_unbox = TRUE),
           "tests/reference/careless_indices.json")
