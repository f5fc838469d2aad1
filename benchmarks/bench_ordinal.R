# Times ordinal::clmm (Laplace, nAGQ = 1) + emmeans(mode = "latent") on one CSV written by
# benchmarks/bench_ordinal.py; prints one JSON line with the seconds spent in the model code.
suppressPackageStartupMessages({
  library(ordinal)
  library(emmeans)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
waves <- strsplit(args[2], ",")[[1]]
d$wave <- factor(d$wave, levels = waves)
d$modality <- factor(d$modality)
d$site <- factor(d$site)
d$participant <- factor(d$participant)
d$answer <- factor(d$answer, ordered = TRUE)
t0 <- proc.time()
fit <- clmm(answer ~ wave * modality + (1 | site) + (1 | site:participant), data = d,
            nAGQ = 1L)
s <- summary(fit)
emm <- emmeans(fit, ~ wave | modality, mode = "latent")
ct <- contrast(emmeans(fit, ~ wave * modality, mode = "latent"), interaction = "trt.vs.ctrl")
invisible(summary(ct))
el <- proc.time() - t0
cat(toJSON(list(seconds = el[["elapsed"]], cpu_seconds = el[["user.self"]] + el[["sys.self"]], beta = unname(fit$beta), alpha = unname(fit$alpha),
                st = unname(unlist(fit$ST)), logLik = as.numeric(logLik(fit))),
           digits = NA, auto_unbox = TRUE), "\n")
