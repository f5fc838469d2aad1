# Simulation power of the modality model's difference in change, in R (simr is not in
# Debian, so this is the simulation simr::powerSim would run, written out with lmerTest).
# Design: 2 modalities (A, B) x 4 sites x 8 participants, 3 waves, 20% of the previous
# wave's participants missing at each later wave (monotone), variance components
# site 0.1, participant 0.4, residual 0.5; A changes by 0.25 at wave2 and 0.5 at wave3,
# B does not change. Each data set is fitted with
#   lmerTest::lmer(score ~ wave * modality + (1 | site) + (1 | site:participant))
# and the baseline-to-wave contrasts A vs B are tested with Satterthwaite (lmerTest) and
# Kenward-Roger (pbkrtest through lmerTest) degrees of freedom at alpha = 0.05.
# Run: Rscript tests/reference/power/power_lmertest.R  (writes power_lmertest.json here)
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
set.seed(20261201)
n_sim <- as.integer(Sys.getenv("N_SIM", "1000"))
sites <- 4; n <- 8; waves <- 3; attrition <- 0.2
sd_site <- sqrt(0.1); sd_part <- sqrt(0.4); sd_res <- sqrt(0.5)
change <- rbind(A = c(0, 0.25, 0.5), B = c(0, 0, 0))
one <- function() {
  J <- 2 * sites
  mod <- rep(c("A", "B"), each = sites)
  u <- rnorm(J, 0, sd_site)
  rows <- list()
  for (j in seq_len(J)) for (i in seq_len(n)) {
    b <- rnorm(1, 0, sd_part)
    present <- TRUE
    for (w in seq_len(waves)) {
      if (w > 1) present <- present && (runif(1) >= attrition)
      if (!present) break
      rows[[length(rows) + 1]] <- data.frame(
        site = paste0("S", j), participant = paste0("S", j, "P", i),
        wave = paste0("wave", w), modality = mod[j],
        score = change[mod[j], w] + u[j] + b + rnorm(1, 0, sd_res))
    }
  }
  d <- do.call(rbind, rows)
  d$wave <- factor(d$wave, levels = paste0("wave", 1:waves))
  d$modality <- factor(d$modality, levels = c("A", "B"))
  m <- suppressMessages(suppressWarnings(
    lmer(score ~ wave * modality + (1 | site) + (1 | site:participant), data = d)))
  out <- c()
  for (w in 2:waves) {
    term <- paste0("wave", "wave", w, ":modalityB")
    L <- setNames(rep(0, length(fixef(m))), names(fixef(m)))
    L[term] <- -1  # (change under A) - (change under B) = -interaction of B
    s <- contest(m, L, ddf = "Satterthwaite", joint = FALSE)
    k <- contest(m, L, ddf = "Kenward-Roger", joint = FALSE)
    out <- c(out, s$Estimate, s[["Pr(>|t|)"]], k[["Pr(>|t|)"]])
  }
  c(out, isSingular(m))
}
t0 <- Sys.time()
res <- t(replicate(n_sim, one()))
elapsed <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
summ <- function(col_est, col_s, col_k, truth, label) {
  ps <- mean(res[, col_s] < 0.05); pk <- mean(res[, col_k] < 0.05)
  list(contrast = label, truth = truth,
       power_satterthwaite = ps, mc_se_satterthwaite = sqrt(ps * (1 - ps) / n_sim),
       power_kenward_roger = pk, mc_se_kenward_roger = sqrt(pk * (1 - pk) / n_sim),
       mean_estimate = mean(res[, col_est]), sd_estimate = sd(res[, col_est]))
}
out <- list(
  r_version = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  n_simulations = n_sim, seed = 20261201, seconds = elapsed,
  design = list(modalities = c("A", "B"), sites_per_modality = sites, participants = n,
                waves = paste0("wave", 1:waves), attrition = attrition,
                site_variance = 0.1, participant_variance = 0.4, residual_variance = 0.5,
                change = list(A = change["A", ], B = change["B", ]), alpha = 0.05),
  singular_share = mean(res[, ncol(res)]),
  contrasts = list(summ(1, 2, 3, 0.25, "A vs B: wave1 -> wave2"),
                   summ(4, 5, 6, 0.5, "A vs B: wave1 -> wave3")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE),
           file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE),
                                                      value = TRUE))), "power_lmertest.json"))
