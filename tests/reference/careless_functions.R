# The four index functions of the R package careless 1.2.2 (MIT licence, (c) 2023 Richard
# Yentes and Francisco Wilhelm; https://github.com/ryentes/careless), copied unchanged apart
# from comments and the evenodd() start-up warning, because careless is not a Debian package.
# mahad() calls psych::outlier, which is installed (r-cran-psych).

longstring <- function(x, avg=FALSE) {
  rle_string <- function(x) {
    rle_list <- rle(x)
    longstr <- max(rle_list$lengths)
    avgstr <- mean(rle_list$lengths)
    return(cbind(longstr, avgstr))
  }
  output <- apply(x, 1, rle_string)
  output <- data.frame(t(output))
  colnames(output) <- (c('longstr','avgstr'))
  if(avg == TRUE) {
    return(output)
  } else {
    return(output[,'longstr'])
  }
}

irv <- function(x, na.rm = TRUE, split = FALSE, num.split = 3) {
  out <- apply(x, 1, stats::sd, na.rm = na.rm)
  return(out)
}

mahad <- function(x, plot = TRUE, flag = FALSE, confidence = 0.99, na.rm = TRUE) {
  complete.na <- apply(x, 1, function(y) { all(is.na(y)) } )
  x_filtered <- x[!complete.na,]
  maha_data <- as.numeric(psych::outlier(x_filtered, plot, bad = 0, na.rm = na.rm))
  d_sq <- rep_len(NA, nrow(x_filtered))
  d_sq[!complete.na] <- maha_data
  if(flag == TRUE) {
    cut <- stats::qchisq(confidence, ncol(x))
    flagged <- (d_sq > cut)
    return(data.frame(d_sq = d_sq, flagged = flagged))
  }
  else{ return(d_sq) }
}

evenodd <- function(x, factors, diag = FALSE) {
  eo_vals <- vector("list", nrow(x))
  for(i in 1:nrow(x)) {
    f <- matrix(rep(NA, 2*length(factors)), length(factors), ncol=2)
    start <- 1
    for(j in 1:length(factors)) {
      if(j>1) start <- start + (factors[j-1])
      end <- (factors[j]-1) + start
      s <- x[i,start:end]
      ind <- seq(1:length(colnames(s)))
      e_ind <- which(ind %% 2 == 0)
      o_ind <- which(ind %% 2 == 1)
      f[j,1] <- mean(t(s[e_ind]), na.rm = TRUE)
      f[j,2] <- mean(t(s[o_ind]), na.rm = TRUE)
    }
    eo_vals[[i]] <- f
  }
  eo_cor <- sapply(eo_vals, function(f) {
    val <- suppressWarnings(stats::cor(f[, 1], f[, 2], use = "pairwise.complete.obs"))
    val <- (2 * val) / (1 + val)
    if (!is.na(val) && val < -1) val <- -1
    return(val)
  })
  eo_cor = 0 - eo_cor
  return(eo_cor)
}
