# Reference values for evalkit.prepost, computed with base R stats and effectsize.
#
# Regenerate from the repository root:
#   Rscript tests/reference/prepost/make_reference.R
# Reads the committed CSVs next to this script (made once by make_datasets.py) and writes
# reference.json beside them. Written with R 4.2.2, effectsize 0.8.3, jsonlite 1.8.4.
#
# Conventions: differences are post - pre; x = post, y = pre in every two-sample call.

suppressPackageStartupMessages({
  library(effectsize)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else getwd()
read <- function(name) {
  read.csv(file.path(here, name), stringsAsFactors = FALSE, na.strings = "NA")
}

# The CI of a standardized difference is t's noncentrality interval: the ncp at which t sits
# at the 97.5% and 2.5% quantiles of the noncentral t. effectsize finds both with one
# Nelder-Mead search (.get_ncp_t), which can stop early when t is near 0; uniroot on pt()
# gives the roots themselves. Both are recorded; `gap` is how far effectsize's limits are
# from the target quantiles (|pt - 0.975| + |pt - 0.025|).
ncp_roots <- function(t, df, conf = 0.95) {
  a <- 1 - conf
  f <- function(ncp, p) pt(t, df, ncp) - p
  root <- function(p) uniroot(f, c(t - 5, t + 5), p = p, tol = 1e-13,
                              extendInt = "yes")$root
  c(root(1 - a / 2), root(a / 2))
}
exact_ci <- function(t, df, hn, J = 1) {
  r <- ncp_roots(t, df) * sqrt(hn) * J
  list(ci_low = r[1], ci_high = r[2])
}
optim_gap <- function(es, t, df, hn, J = 1) {
  lo <- es$CI_low / (sqrt(hn) * J)
  hi <- es$CI_high / (sqrt(hn) * J)
  abs(pt(t, df, lo) - 0.975) + abs(pt(t, df, hi) - 0.025)
}
hedges_j <- function(df) exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))

# Wide pairs: subjects with a non-missing outcome at both waves, in subject order.
pairs_of <- function(d, outcome = "score", pre = "baseline", post = "endline") {
  a <- d[d$wave == pre & !is.na(d[[outcome]]), c("subject", outcome)]
  b <- d[d$wave == post & !is.na(d[[outcome]]), c("subject", outcome)]
  names(a)[2] <- "pre"
  names(b)[2] <- "post"
  m <- merge(a, b, by = "subject")
  m[order(m$subject), ]
}

paired_stats <- function(pre, post) {
  tt <- t.test(post, pre, paired = TRUE)
  wt <- suppressWarnings(wilcox.test(post, pre, paired = TRUE))
  d <- post - pre
  nz <- d[d != 0]
  exact <- length(nz) < 50 && !any(d == 0) && length(unique(rank(abs(nz)))) == length(nz)
  cd <- cohens_d(post, pre, paired = TRUE)
  hg <- hedges_g(post, pre, paired = TRUE)
  # The rank-biserial CI: effectsize's SE uses nd = sum(x != mu). For the one-sample call on
  # the differences x = post - pre that is the number of nonzero differences (the n of the
  # signed-rank test); the two-sample paired call counts nonzero *post* values instead.
  rb <- suppressWarnings(rank_biserial(post - pre, paired = TRUE))
  rb2 <- suppressWarnings(rank_biserial(post, pre, paired = TRUE))
  n <- length(d)
  t_d <- mean(d) / (sd(d) / sqrt(n))
  list(
    n_pairs = length(pre),
    mean_pre = mean(pre), mean_post = mean(post), mean_diff = mean(d), sd_diff = sd(d),
    n_nonzero = length(nz),
    ttest = list(t = unname(tt$statistic), df = unname(tt$parameter), p = tt$p.value,
                 ci_low = tt$conf.int[1], ci_high = tt$conf.int[2],
                 estimate = unname(tt$estimate)),
    wilcoxon = list(V = unname(wt$statistic), p = wt$p.value, exact = exact),
    cohens_d = list(d = cd$Cohens_d, ci_low = cd$CI_low, ci_high = cd$CI_high,
                    gap = optim_gap(cd, t_d, n - 1, 1 / n)),
    hedges_g = list(g = hg$Hedges_g, ci_low = hg$CI_low, ci_high = hg$CI_high,
                    gap = optim_gap(hg, t_d, n - 1, 1 / n, hedges_j(n - 1))),
    cohens_d_exact_ci = exact_ci(t_d, n - 1, 1 / n),
    hedges_g_exact_ci = exact_ci(t_d, n - 1, 1 / n, hedges_j(n - 1)),
    rank_biserial = list(r = rb$r_rank_biserial, ci_low = rb$CI_low, ci_high = rb$CI_high),
    rank_biserial_two_sample_call = list(r = rb2$r_rank_biserial, ci_low = rb2$CI_low,
                                         ci_high = rb2$CI_high)
  )
}

unmatched_stats <- function(pre, post) {
  tt <- t.test(post, pre, var.equal = FALSE)
  wt <- suppressWarnings(wilcox.test(post, pre))
  r <- rank(c(post, pre))
  exact <- length(post) < 50 && length(pre) < 50 && length(unique(r)) == length(r)
  hg <- hedges_g(post, pre)
  cd <- cohens_d(post, pre)
  rb <- rank_biserial(post, pre)
  n1 <- length(post)
  n2 <- length(pre)
  hn <- 1 / n1 + 1 / n2
  t_d <- (mean(post) - mean(pre)) / (sd_pooled(post, pre) * sqrt(hn))
  df <- n1 + n2 - 2
  list(
    n_pre = length(pre), n_post = length(post),
    mean_pre = mean(pre), mean_post = mean(post), mean_diff = mean(post) - mean(pre),
    sd_pre = sd(pre), sd_post = sd(post),
    ttest = list(t = unname(tt$statistic), df = unname(tt$parameter), p = tt$p.value,
                 ci_low = tt$conf.int[1], ci_high = tt$conf.int[2]),
    mann_whitney = list(W = unname(wt$statistic), p = wt$p.value, exact = exact),
    hedges_g = list(g = hg$Hedges_g, ci_low = hg$CI_low, ci_high = hg$CI_high,
                    gap = optim_gap(hg, t_d, df, hn, hedges_j(df))),
    cohens_d = list(d = cd$Cohens_d, ci_low = cd$CI_low, ci_high = cd$CI_high,
                    gap = optim_gap(cd, t_d, df, hn)),
    hedges_g_exact_ci = exact_ci(t_d, df, hn, hedges_j(df)),
    cohens_d_exact_ci = exact_ci(t_d, df, hn),
    rank_biserial = list(r = rb$r_rank_biserial, ci_low = rb$CI_low, ci_high = rb$CI_high)
  )
}

out <- list(
  meta = list(
    r_version = R.version.string,
    effectsize = as.character(packageVersion("effectsize")),
    calls = list(
      ttest = "t.test(post, pre, paired = TRUE)",
      wilcoxon = "wilcox.test(post, pre, paired = TRUE)",
      cohens_d = "effectsize::cohens_d(post, pre, paired = TRUE)",
      hedges_g = "effectsize::hedges_g(post, pre, paired = TRUE)",
      rank_biserial = "effectsize::rank_biserial(post - pre, paired = TRUE)",
      rank_biserial_two_sample_call = "effectsize::rank_biserial(post, pre, paired = TRUE)",
      welch = "t.test(post, pre, var.equal = FALSE)",
      mann_whitney = "wilcox.test(post, pre)",
      hedges_g_unpaired = "effectsize::hedges_g(post, pre)",
      rank_biserial_unpaired = "effectsize::rank_biserial(post, pre)",
      mcnemar = "mcnemar.test(table(pre, post))",
      mcnemar_exact = "binom.test(n01, n01 + n10, 0.5)",
      exact_ci = "uniroot(function(ncp) pt(t, df, ncp) - p) for p = 0.975, 0.025",
      adjust = "p.adjust(p, method)",
      rank_biserial_pair_formula = "effectsize::rank_biserial(Pair(post, pre) ~ 1)"
    )
  )
)

for (name in c("paired_basic", "paired_ties", "paired_small", "paired_large")) {
  d <- read(paste0(name, ".csv"))
  pr <- pairs_of(d)
  out[[name]] <- paired_stats(pr$pre, pr$post)
}

# per-site results for the dataset with a group column
d <- read("paired_ties.csv")
site_of <- unique(d[, c("subject", "site")])
pr <- merge(pairs_of(d), site_of, by = "subject")
out$paired_ties_by_site <- lapply(split(pr, pr$site), function(g) paired_stats(g$pre, g$post))

# unmatched participants: pairs among completers, and attrition
d <- read("unmatched.csv")
pr <- pairs_of(d)
out$unmatched <- paired_stats(pr$pre, pr$post)
base <- d[d$wave == "baseline" & !is.na(d$score), ]
completer <- base$subject %in% pr$subject
tt <- t.test(base$score[completer], base$score[!completer])
out$unmatched_attrition <- list(
  n_seen = list(baseline = length(unique(d$subject[d$wave == "baseline"])),
                endline = length(unique(d$subject[d$wave == "endline"]))),
  n_outcome = list(baseline = nrow(base),
                   endline = sum(d$wave == "endline" & !is.na(d$score))),
  n_matched = nrow(pr),
  completers = list(n = sum(completer), mean = mean(base$score[completer]),
                    sd = sd(base$score[completer])),
  dropouts = list(n = sum(!completer), mean = mean(base$score[!completer]),
                  sd = sd(base$score[!completer])),
  difference = mean(base$score[completer]) - mean(base$score[!completer]),
  t = unname(tt$statistic), df = unname(tt$parameter), p = tt$p.value
)

for (name in c("cross_ties", "cross_small")) {
  d <- read(paste0(name, ".csv"))
  out[[name]] <- unmatched_stats(d$score[d$wave == "baseline"], d$score[d$wave == "endline"])
}

d <- read("binary.csv")
names(d)[names(d) == "practice"] <- "score"
pr <- pairs_of(d)
tab <- table(factor(pr$pre, levels = 0:1), factor(pr$post, levels = 0:1))
mc <- mcnemar.test(tab)
mc_raw <- mcnemar.test(tab, correct = FALSE)
bt <- binom.test(tab[1, 2], tab[1, 2] + tab[2, 1], 0.5)
out$binary <- list(
  n_pairs = nrow(pr), n00 = tab[1, 1], n01 = tab[1, 2], n10 = tab[2, 1], n11 = tab[2, 2],
  statistic = unname(mc$statistic), df = unname(mc$parameter), p = mc$p.value,
  statistic_uncorrected = unname(mc_raw$statistic), p_uncorrected = mc_raw$p.value,
  p_exact = bt$p.value
)

p <- read("pvalues.csv")$p
out$p_adjust <- list(
  p = p,
  holm = p.adjust(p, "holm"), BH = p.adjust(p, "BH"), bonferroni = p.adjust(p, "bonferroni")
)

# exact null distributions at a few points, including the n < 50 boundary
out$exact_distributions <- list(
  psignrank_10 = list(q = c(0, 5, 10, 27, 40, 55), p = psignrank(c(0, 5, 10, 27, 40, 55), 10)),
  psignrank_49 = list(q = c(300, 612, 900), p = psignrank(c(300, 612, 900), 49)),
  pwilcox_6_8 = list(q = c(0, 5, 12, 20, 48), p = pwilcox(c(0, 5, 12, 20, 48), 6, 8)),
  pwilcox_49_49 = list(q = c(1000, 1200, 1500), p = pwilcox(c(1000, 1200, 1500), 49, 49))
)

# Issue 16 ----------------------------------------------------------------------------------
# (1) The rank-biserial SE on a 0-10 scale with zero differences and post scores of 0.
#     rank_biserial(post, pre, paired = TRUE) takes nd = sum(post != 0) (nonzero post scores,
#     neither all pairs nor the nonzero differences); its own documentation says paired is
#     "equivalent to the one-sample effect size on x - y", which the difference call is.
pr <- pairs_of(read("paired_zero_post.csv"))
out$paired_zero_post <- paired_stats(pr$pre, pr$post)
rb_pair <- rank_biserial(Pair(post, pre) ~ 1, data = pr)
out$paired_zero_post$rank_biserial_pair_formula <- list(
  r = rb_pair$r_rank_biserial, ci_low = rb_pair$CI_low, ci_high = rb_pair$CI_high)
out$paired_zero_post$n_post_nonzero <- sum(pr$post != 0)

# (7) Degenerate effect sizes. Two pairs: hedges_g's J(df = 1) = exp(lgamma(1/2) -
#     log(sqrt(1/2)) - lgamma(0)) = 0, so g_z = 0 with CI [0, 0]. Every difference zero:
#     cohens_d/hedges_g stop with an optim error (sd = 0) and rank_biserial reports r = 1.
pr <- pairs_of(read("two_pairs.csv"))
cd <- suppressWarnings(cohens_d(pr$post, pr$pre, paired = TRUE))
hg <- suppressWarnings(hedges_g(pr$post, pr$pre, paired = TRUE))
out$two_pairs <- list(
  n_pairs = nrow(pr),
  cohens_d = list(d = cd$Cohens_d, ci_low = cd$CI_low, ci_high = cd$CI_high),
  hedges_g = list(g = hg$Hedges_g, ci_low = hg$CI_low, ci_high = hg$CI_high),
  hedges_j_df1 = hedges_j(1)
)
pr <- pairs_of(read("all_zero.csv"))
rb <- suppressWarnings(rank_biserial(pr$post - pr$pre, paired = TRUE))
rb2 <- suppressWarnings(rank_biserial(pr$post, pr$pre, paired = TRUE))
cd_err <- tryCatch(cohens_d(pr$post, pr$pre, paired = TRUE), error = function(e) "error")
out$all_zero <- list(
  n_pairs = nrow(pr),
  rank_biserial = list(r = rb$r_rank_biserial, ci_low = rb$CI_low, ci_high = rb$CI_high),
  rank_biserial_two_sample_call = list(r = rb2$r_rank_biserial, ci_low = rb2$CI_low,
                                       ci_high = rb2$CI_high),
  cohens_d_fails = identical(cd_err, "error")
)

# (5) Participant ids unique only within a site: pairs are matched on (site, subject).
d <- read("site_local_ids.csv")
out$site_local_ids <- lapply(split(d, d$site), function(g) {
  pr <- pairs_of(g)
  paired_stats(pr$pre, pr$post)
})

write_json(out, file.path(here, "reference.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
