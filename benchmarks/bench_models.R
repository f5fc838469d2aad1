# Times lmerTest::lmer + Satterthwaite summary + emmeans + difference-in-change contrasts on one
# CSV (columns site, participant, wave, modality, score); called by bench_models.py.
# Usage: Rscript benchmarks/bench_models.R DATA.csv
# Prints one JSON line: {"seconds": <model code only>, "n_obs": ..., "fixef": [...]}.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(jsonlite)
})
# Satterthwaite df for emmeans at every size (the default switches to asymptotic df above 3000
# rows, which would not be the same computation).
emm_options(lmerTest.limit = Inf, pbkrtest.limit = 0)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
waves <- c("baseline", "midline", "endline")
d$wave <- factor(d$wave, levels = waves)
d$modality <- factor(d$modality, levels = sort(unique(d$modality)))
d$site <- factor(d$site)
d$participant <- factor(d$participant)

t0 <- proc.time()[["elapsed"]]
m <- lmerTest::lmer(score ~ wave * modality + (1 | site) + (1 | site:participant), data = d,
                    REML = TRUE)
coefs <- summary(m)$coefficients  # Satterthwaite df
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
elapsed <- proc.time()[["elapsed"]] - t0

cat(toJSON(list(seconds = elapsed, n_obs = nobs(m), fixef = unname(fixef(m)),
                df = unname(coefs[, "df"]), contrast_df = ct$df),
           digits = NA, auto_unbox = TRUE), "\n")
