# What an R user runs for the modality model, timed inside R; called by bench_cli.py.
# Usage: Rscript benchmarks/bench_cli.R DATA.csv [cr2]
# Reads the CSV (columns site, participant, wave, modality, score), then times
#   lmerTest::lmer + summary (Satterthwaite) + emmeans (Satterthwaite df) + the
#   difference-in-change contrasts (Holm), as benchmarks/bench_models.R does,
# and, with "cr2", clubSandwich's CR2 tests of the fixed effects and of the same contrasts
# (vcovCR + coef_test + linear_contrast, Satterthwaite df).
# Prints one JSON line after each stage, so that a run stopped by a timeout still reports
# the stages it finished: {"stage": "model", ...} then {"stage": "cr2", ...}.
t_start <- proc.time()[["elapsed"]]
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(jsonlite)
})
emm_options(lmerTest.limit = Inf, pbkrtest.limit = 0)
args <- commandArgs(trailingOnly = TRUE)
do_cr2 <- length(args) > 1 && args[2] == "cr2"
t_read <- proc.time()[["elapsed"]]
d <- read.csv(args[1], stringsAsFactors = FALSE)
waves <- c("baseline", "midline", "endline")
d$wave <- factor(d$wave, levels = waves)
d$modality <- factor(d$modality, levels = sort(unique(d$modality)))
d$site <- factor(d$site)
d$participant <- factor(d$participant)
read_s <- proc.time()[["elapsed"]] - t_read

t0 <- proc.time()[["elapsed"]]
m <- lmerTest::lmer(score ~ wave * modality + (1 | site) + (1 | site:participant), data = d,
                    REML = TRUE)
coefs <- summary(m)$coefficients
emm <- emmeans(m, ~ wave * modality, lmer.df = "satterthwaite")
emm_s <- summary(emm)
cell <- paste(emm_s$wave, emm_s$modality, sep = "|")
groups <- levels(d$modality)
meth <- list()
for (to in waves[-1]) for (i in seq_along(groups)) for (j in seq_along(groups)) if (i < j) {
  cc <- numeric(length(cell))
  cc[cell == paste(to, groups[i], sep = "|")] <- 1
  cc[cell == paste(waves[1], groups[i], sep = "|")] <- -1
  cc[cell == paste(to, groups[j], sep = "|")] <- -1
  cc[cell == paste(waves[1], groups[j], sep = "|")] <- 1
  meth[[paste(to, groups[i], groups[j])]] <- cc
}
ct <- summary(contrast(emm, method = meth, adjust = "holm"), infer = c(TRUE, TRUE))
model_s <- proc.time()[["elapsed"]] - t0
cat(toJSON(list(stage = "model", startup_s = t_read - t_start, read_s = read_s,
                model_s = model_s, n_obs = nobs(m), fixef = unname(fixef(m)),
                df = unname(coefs[, "df"])), digits = NA, auto_unbox = TRUE), "\n")
flush(stdout())

if (do_cr2) {
  suppressPackageStartupMessages(library(clubSandwich))
  t1 <- proc.time()[["elapsed"]]
  V <- vcovCR(m, type = "CR2")
  ct_cr2 <- coef_test(m, vcov = V, test = "Satterthwaite")
  Lbeta <- t(sapply(meth, function(cc) drop(cc %*% emm@linfct)))
  lc <- linear_contrast(m, vcov = V, contrasts = Lbeta, test = "Satterthwaite")
  cr2_s <- proc.time()[["elapsed"]] - t1
  cat(toJSON(list(stage = "cr2", cr2_s = cr2_s, se = unname(ct_cr2$SE),
                  df = unname(ct_cr2$df_Satt)), digits = NA, auto_unbox = TRUE), "\n")
}
