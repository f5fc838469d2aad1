# Reference values for evalkit.reliability, computed with psych.
#
# Regenerate from the repository root:
#   Rscript tests/reference/reliability/make_reference.R
# Reads the committed CSVs next to this script (made once by make_datasets.py) and writes
# reference.json beside them. Written with R 4.2.2, psych 2.2.9, GPArotation 2022.10-2.
#
# The first cases get the data without respondents who answered no item ("listwise" cases
# na.omit() of that); missing_pairwise_all_rows keeps such a row, as psych counts it in n.

suppressPackageStartupMessages({
  library(psych)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else getwd()
read_items <- function(name) {
  d <- read.csv(file.path(here, name), stringsAsFactors = FALSE, na.strings = "NA")
  x <- d[, grep("^q", names(d))]
  x[rowSums(!is.na(x)) > 0, ]
}

# One-factor minres (unweighted least squares on the off-diagonal correlations) solved to
# machine precision by iterated principal axes; psych's fa() stops its L-BFGS-B search earlier.
minres_converged <- function(R) {
  h <- 1 - 1 / diag(solve(R))
  for (i in 1:100000) {
    Rh <- R
    diag(Rh) <- h
    e <- eigen(Rh, symmetric = TRUE)
    l <- e$vectors[, 1] * sqrt(max(e$values[1], 0))
    h_new <- l^2
    if (max(abs(h_new - h)) < 1e-15) break
    h <- h_new
  }
  l <- l * sign(sum(l))
  key <- sign(l)
  Rk <- diag(key) %*% R %*% diag(key)
  u2 <- 1 - l^2
  list(loadings = l, omega_tot = (sum(Rk) - sum(u2)) / sum(Rk),
       omega_h = sum(abs(l))^2 / sum(Rk), iterations = i)
}

alpha_case <- function(x, reverse, what) {
  a <- suppressWarnings(alpha(x, keys = reverse))
  xr <- x
  lo <- min(x, na.rm = TRUE)
  hi <- max(x, na.rm = TRUE)
  for (k in reverse) xr[[k]] <- lo + hi - xr[[k]]
  om <- suppressMessages(suppressWarnings(omega(xr, nfactors = 1, plot = FALSE)))
  conv <- minres_converged(cor(xr, use = "pairwise"))
  st <- a$item.stats
  list(
    call = what,
    n = nrow(x), nvar = a$nvar, reverse = reverse, scale_min = lo, scale_max = hi,
    raw_alpha = a$total$raw_alpha, std_alpha = a$total$std.alpha,
    g6 = a$total[["G6(smc)"]], average_r = a$total$average_r, ase = a$total$ase,
    total_mean = a$total$mean, total_sd = a$total$sd,
    feldt = list(low = a$feldt$lower.ci[[1]], high = a$feldt$upper.ci[[1]]),
    duhachek = list(low = a$total$raw_alpha - 1.96 * a$total$ase,
                    high = a$total$raw_alpha + 1.96 * a$total$ase),
    items = names(x),
    item_stats = list(n = unname(st$n), raw_r = unname(st$raw.r), std_r = unname(st$std.r),
                      r_cor = unname(st$r.cor), r_drop = unname(st$r.drop),
                      mean = unname(st$mean), sd = unname(st$sd)),
    alpha_drop = list(raw_alpha = a$alpha.drop$raw_alpha, std_alpha = a$alpha.drop$std.alpha),
    omega = list(omega_tot = om$omega.tot, omega_h = om$omega_h,
                 loadings = unname(om$schmid$sl[, 1]), u2 = unname(om$schmid$sl[, "u2"])),
    omega_converged = conv
  )
}

complete <- read_items("alpha_complete.csv")
missing <- read_items("alpha_missing.csv")

out <- list(
  meta = list(
    r_version = R.version.string,
    psych = as.character(packageVersion("psych")),
    calls = list(
      alpha = "psych::alpha(x, keys = reverse)   # use = 'pairwise' by default",
      feldt = "psych::alpha(...)$feldt (alpha.ci: F distribution, df n-1 and (n-1)(k-1))",
      duhachek = "raw_alpha -/+ 1.96 * psych::alpha(...)$total$ase (as print.psych shows)",
      omega = "psych::omega(x_reversed, nfactors = 1)   # fm = 'minres', cor(use = 'pairwise')"
    )
  ),
  complete_reversed = alpha_case(complete, c("q4"), "alpha(x, keys = 'q4')"),
  complete_plain = alpha_case(complete[, c("q1", "q2", "q3", "q5")], character(0),
                              "alpha(x[, c('q1', 'q2', 'q3', 'q5')])"),
  missing_pairwise = alpha_case(missing, c("q6"), "alpha(x, keys = 'q6')"),
  missing_listwise = alpha_case(na.omit(missing), c("q6"), "alpha(na.omit(x), keys = 'q6')")
)

# Issue 16 -----------------------------------------------------------------------------------
# (2) psych counts every row in n, including the respondent who answered no item (M018):
#     n = 150 in the ase and the Feldt interval (the other numbers do not depend on it).
all_rows <- read.csv(file.path(here, "alpha_missing.csv"), na.strings = "NA")
all_rows <- all_rows[, grep("^q", names(all_rows))]
out$missing_pairwise_all_rows <- alpha_case(all_rows, c("q6"),
                                            "alpha(x, keys = 'q6')  # x with its empty row")
out$missing_pairwise_all_rows$n_empty <- sum(rowSums(!is.na(all_rows)) == 0)
# (3) listwise deletion: the rows na.omit() drops
out$missing_listwise$n_rows <- nrow(all_rows)
out$missing_listwise$n_dropped <- nrow(all_rows) - nrow(na.omit(all_rows))

# (3) A forgotten reverse item: alpha() without keys on the complete data, where q4 is
#     negatively keyed. psych warns when an item loads negatively on the first principal
#     component (principal(x)); it names the items with cat().
flag_case <- function(x) {
  msg <- NULL
  printed <- capture.output(a <- withCallingHandlers(alpha(x), warning = function(w) {
    msg <<- conditionMessage(w)
    invokeRestart("muffleWarning")
  }))
  p1 <- principal(x, scores = FALSE)
  list(raw_alpha = a$total$raw_alpha, alpha_drop = a$alpha.drop$raw_alpha,
       r_drop = unname(a$item.stats$r.drop), items = names(x),
       warning = if (is.null(msg)) NA else msg, printed = paste(printed, collapse = "\n"),
       loadings = unname(p1$loadings[, 1]),
       flagged = I(rownames(p1$loadings)[p1$loadings[, 1] < 0]))
}
out$forgotten_reverse <- flag_case(complete)
out$no_negative_item <- flag_case(complete[, c("q1", "q2", "q3", "q5")])

write_json(out, file.path(here, "reference.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
