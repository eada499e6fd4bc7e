# Reference values for pipeline/network.py: every unit and group measure from R igraph.
# Run from the repository root:  Rscript tests/reference/network_igraph.R
# Reads the hand-written tie lists tests/reference/data/network_{directed,undirected}_*.csv,
# writes a generated clustered network tests/reference/data/network_random_*.csv (seeded), and
# writes tests/reference/network_igraph.json.
# Cleaning is done here independently of socap: self-loops dropped, duplicate pairs merged with
# weights summed (either orientation when undirected), ids kept as text.
suppressMessages({library(igraph); library(jsonlite)})

set.seed(20260102)
n_units <- 150; groups <- c("G1", "G2", "G3", "G4", "G5")
units <- data.frame(unit = sprintf("%04d", 1:n_units),
                    group = sample(groups, n_units, replace = TRUE))
units$group[c(7, 77)] <- NA                              # units without a group
inst <- c("UNI1", "UNI2", "CHAMBER", "BANK", "AGENCY")
nodes <- c(units$unit[1:140], inst)                     # units 141-150 are isolates
r <- 700
a <- sample(nodes, r, replace = TRUE, prob = c(rep(1, 140), rep(6, 5)))
same <- runif(r) < 0.7
b <- character(r)
for (i in seq_len(r)) {
  g <- units$group[match(a[i], units$unit)]
  pool <- if (same[i] && !is.na(g)) units$unit[units$group %in% g & seq_len(n_units) <= 140] else nodes
  b[i] <- sample(pool, 1)
}
ties <- data.frame(source = a, target = b, weight = round(rgamma(r, 2, 1), 2),
                   type = sample(c("supply", "R&D", ""), r, replace = TRUE, prob = c(5, 3, 1)))
write.csv(ties, "tests/reference/data/network_random_ties.csv", row.names = FALSE)
write.csv(units, "tests/reference/data/network_random_units.csv", row.names = FALSE, na = "")

case <- function(ties_file, units_file, directed) {
  t <- read.csv(ties_file, colClasses = "character")
  u <- read.csv(units_file, colClasses = "character")
  u$group[u$group == ""] <- NA
  t$weight <- as.numeric(t$weight)
  loops <- t$source == t$target
  t <- t[!loops, ]
  if (!directed) {
    s <- pmin(t$source, t$target); e <- pmax(t$source, t$target)
    t$source <- s; t$target <- e
  }
  key <- paste(t$source, t$target, sep = "\r")
  merged <- aggregate(weight ~ source + target, data = t, FUN = sum)
  vertices <- sort(unique(c(u$unit, t$source, t$target)))
  g <- graph_from_data_frame(merged, directed = directed, vertices = data.frame(name = vertices))
  s <- if (directed) as.undirected(g, mode = "collapse", edge.attr.comb = list(weight = "sum")) else g
  is_unit <- vertices %in% u$unit
  # effective size from the ego networks (independent of triangle counts)
  es <- sapply(seq_along(vertices), function(i) {
    al <- as.integer(neighbors(s, i, mode = "all"))
    d <- length(al)
    if (d == 0) return(NA)
    tt <- ecount(induced_subgraph(s, al))
    d - 2 * tt / d
  })
  m <- list(
    degree = degree(s),
    strength = strength(g, mode = "all"),
    betweenness = betweenness(g, directed = directed, weights = NA),
    closeness = harmonic_centrality(g, mode = "out", weights = NA, normalized = TRUE),
    eigenvector = eigen_centrality(s, weights = NA)$vector,
    clustering = transitivity(s, type = "local", isolates = "zero"),
    constraint = constraint(g),
    effective_size = es
  )
  if (directed) {
    m$in_degree <- degree(g, mode = "in"); m$out_degree <- degree(g, mode = "out")
    m$in_strength <- strength(g, mode = "in"); m$out_strength <- strength(g, mode = "out")
    # for information: R's defaults on the directed graph itself
    m$r_default_transitivity_directed_g <- transitivity(g, type = "local", isolates = "zero")
    m$r_default_eigen_directed_g <- eigen_centrality(g, weights = NA)$vector
  }
  for (ty in sort(unique(t$type[t$type != ""]))) {
    tt <- t[t$type == ty, ]
    gt <- graph_from_data_frame(unique(tt[, c("source", "target")]), directed = FALSE,
                                vertices = data.frame(name = vertices))
    m[[paste0("degree_", tolower(gsub("[^0-9A-Za-z]+", "_", ty)))]] <- degree(simplify(gt))
  }
  um <- lapply(m, function(x) { x <- as.numeric(x); names(x) <- vertices
                                as.list(ifelse(is.nan(x), NA, x))[vertices[is_unit]] })
  # groups
  grp <- setNames(u$group, u$unit)
  node_group <- ifelse(is_unit, grp[vertices], "<institution>")
  el <- ends(g, E(g), names = TRUE)
  gres <- list()
  for (G in sort(unique(na.omit(u$group)))) {
    gu <- u$unit[!is.na(u$group) & u$group == G]
    sub <- induced_subgraph(g, gu)
    subs <- induced_subgraph(s, gu)
    touch <- el[, 1] %in% gu | el[, 2] %in% gu
    other <- ifelse(el[touch, 1] %in% gu, el[touch, 2], el[touch, 1])
    within <- el[touch, 1] %in% gu & el[touch, 2] %in% gu
    other_inst <- !within & !(other %in% u$unit)
    other_unit <- !within & (other %in% u$unit)
    gres[[G]] <- list(
      units = length(gu),
      participants = sum(degree(s)[gu] > 0),
      ties = ecount(sub),
      density = if (length(gu) > 1) edge_density(sub) else NA,
      mean_degree = mean(degree(subs)),
      centralization = if (length(gu) > 2) centr_degree(subs, loops = FALSE)$centralization else NA,
      institution_share = sum(other_inst) / sum(touch),
      boundary_share = sum(other_unit) / sum(touch)
    )
  }
  cs <- components(s)
  list(
    directed = directed,
    nodes = vcount(g), edges = ecount(g), units = sum(is_unit), institutions = sum(!is_unit),
    density = edge_density(g), components = cs$no, largest_component = max(cs$csize),
    mean_degree = mean(degree(s)),
    self_loops_dropped = sum(loops), duplicates_merged = nrow(t) - ecount(g),
    unit_measures = um, groups = gres
  )
}
res <- list(
  r_version = R.version.string,
  igraph_version = as.character(packageVersion("igraph")),
  directed = case("tests/reference/data/network_directed_ties.csv",
                  "tests/reference/data/network_directed_units.csv", TRUE),
  undirected = case("tests/reference/data/network_undirected_ties.csv",
                    "tests/reference/data/network_undirected_units.csv", FALSE),
  random_directed = case("tests/reference/data/network_random_ties.csv",
                         "tests/reference/data/network_random_units.csv", TRUE),
  random_undirected = case("tests/reference/data/network_random_ties.csv",
                           "tests/reference/data/network_random_units.csv", FALSE)
)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           "tests/reference/network_igraph.json")
