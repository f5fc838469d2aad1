# Reference values for evalkit.models.ordinal_model (the cumulative-link mixed model).
#
# Regenerate from the repository root with:
#     Rscript tests/reference/ordinal/make_reference.R
#
# The script writes the input datasets (<name>.csv, simulated with fixed seeds) and the oracle
# values (<name>.json, full precision) that tests/test_ordinal.py compares against.
# Oracles (R 4.2.2, ordinal 2022.11.16, emmeans 1.8.4-1):
#   * ordinal::clmm(y ~ wave * modality + (1|site) + (1|site:participant), nAGQ = 1), with the
#     default control and refitted tightly converged (nlminb rel.tol = 1e-14, inner gradTol =
#     1e-10): thresholds, coefficients, SEs (inverse numerical Hessian), random-effect SDs,
#     logLik, AIC, max|gradient| and condition number of the Hessian;
#   * emmeans(fit, ~ wave | modality, mode = "latent") and the difference-in-change contrasts
#     (custom contrast vectors on that grid): estimates from the better converged fit, SEs,
#     z, p and intervals from the default fit; emmeans(mode = "prob") on the better
#     converged fit for the category probabilities at random effects 0;
#   * ordinal::clm(y ~ wave * modality) and ordinal::nominal_test of it.
suppressPackageStartupMessages({
  library(ordinal)
  library(emmeans)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference/ordinal"

# Latent-variable simulation: y* = wave/modality effect + u_site + u_participant + e, cut at
# the thresholds into categories 1..K. drop_later: chance a later wave is missing.
gen_data <- function(seed, modalities, sites_per_modality, n_part, n_waves, sd_site, sd_part,
                     gain, cuts, link = "logit", drop_later = 0) {
  set.seed(seed)
  waves <- c("baseline", "midline", "endline")[if (n_waves == 2) c(1, 3) else 1:3]
  rows <- list()
  s <- 0
  for (m in seq_along(modalities)) {
    for (k in seq_len(sites_per_modality[m])) {
      s <- s + 1
      np <- if (length(n_part) == 1) n_part else sample(n_part[1]:n_part[2], 1)
      u_site <- rnorm(1, 0, sd_site)
      for (p in seq_len(np)) {
        u_part <- rnorm(1, 0, sd_part)
        for (w in seq_along(waves)) {
          e <- if (link == "logit") rlogis(1) else rnorm(1)
          ystar <- (w - 1) * gain[m] + u_site + u_part + e
          if (w > 1 && runif(1) < drop_later) next
          rows[[length(rows) + 1]] <- data.frame(
            site = sprintf("S%02d", s), participant = sprintf("P%02d", p), wave = waves[w],
            modality = modalities[m], answer = 1L + sum(ystar > cuts)
          )
        }
      }
    }
  }
  do.call(rbind, rows)
}

term_name <- function(nm, time, group, d) {
  parts <- strsplit(nm, ":", fixed = TRUE)[[1]]
  parts <- vapply(parts, function(part) {
    for (f in c(time, group)) {
      lv <- substring(part, nchar(f) + 1)
      if (startsWith(part, f) && lv %in% levels(d[[f]])) return(sprintf("%s[T.%s]", f, lv))
    }
    part
  }, character(1))
  paste(parts, collapse = ":")
}

coef_rows <- function(fit, time, group, d) {
  cf <- summary(fit)$coefficients
  nalpha <- length(fit$alpha)
  th <- cf[seq_len(nalpha), , drop = FALSE]
  be <- cf[-seq_len(nalpha), , drop = FALSE]
  list(
    thresholds = data.frame(threshold = rownames(th), estimate = th[, 1], se = th[, 2],
                            row.names = NULL),
    fixed_effects = data.frame(
      term = vapply(rownames(be), term_name, "", time = time, group = group, d = d),
      estimate = be[, 1], se = be[, 2], z = be[, 3], p = be[, 4], row.names = NULL)
  )
}

clmm_values <- function(fit, time, group, d, cluster) {
  out <- coef_rows(fit, time, group, d)
  st <- unlist(fit$ST)
  out$sd <- list(cluster = unname(st[cluster]),
                 subject = unname(st[names(st) != cluster]))
  out$logLik <- as.numeric(logLik(fit))
  out$AIC <- AIC(fit)
  out$max_grad <- max(abs(fit$gradient))
  out$cond_H <- summary(fit)$condHess
  out$vcov <- unname(vcov(fit))
  out$vcov_names <- colnames(vcov(fit))
  out
}

reference <- function(name, d, link, time_order, notes = "") {
  time <- "wave"; group <- "modality"; cluster <- "site"; subject <- "participant"
  write.csv(d, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE)
  d$wave <- factor(d$wave, levels = time_order)
  d$modality <- factor(d$modality, levels = sort(unique(d$modality)))
  d$site <- factor(d$site)
  d$participant <- factor(d$participant)
  d$answer <- factor(d$answer, levels = sort(unique(d$answer)), ordered = TRUE)
  f <- answer ~ wave * modality + (1 | site) + (1 | site:participant)

  t0 <- proc.time()[["elapsed"]]
  fit <- clmm(f, data = d, link = link, nAGQ = 1L)
  secs <- proc.time()[["elapsed"]] - t0
  tight <- clmm(f, data = d, link = link, nAGQ = 1L,
                control = clmm.control(gradTol = 1e-10, rel.tol = 1e-14, eval.max = 2000,
                                       iter.max = 1500))

  # The better converged of the two fits (higher logLik): the tight one, except where the
  # site SD is at the boundary, where the tight refit wanders off it to a lower logLik.
  best_name <- if (logLik(tight) >= logLik(fit)) "clmm_tight" else "clmm_default"
  best <- if (best_name == "clmm_tight") tight else fit
  # Estimates from the best fit; standard errors (and so z, p and intervals) from the
  # default fit, whose numerical Hessian is smooth: in the tight refit the inner Newton
  # iterations stop at rounding level, which makes its finite-difference Hessian noisy at
  # about 1e-3.
  latent <- function(m) {
    es <- as.data.frame(summary(emmeans(m, ~ wave | modality, mode = "latent")))
    grid_emm <- emmeans(m, ~ wave * modality, mode = "latent")
    g <- as.data.frame(summary(grid_emm))
    cell <- paste(g$wave, g$modality, sep = "|")
    groups <- levels(d$modality)
    meth <- list(); info <- list()
    for (to in time_order[-1]) {
      for (i in seq_along(groups)) for (j in seq_along(groups)) if (i < j) {
        a <- groups[i]; b <- groups[j]
        v <- numeric(length(cell))
        v[cell == paste(to, a, sep = "|")] <- 1
        v[cell == paste(time_order[1], a, sep = "|")] <- -1
        v[cell == paste(to, b, sep = "|")] <- -1
        v[cell == paste(time_order[1], b, sep = "|")] <- 1
        key <- sprintf("%s-%s-%s", a, b, to)
        meth[[key]] <- v
        info[[key]] <- c(a, b, time_order[1], to)
      }
    }
    ct <- as.data.frame(summary(contrast(grid_emm, method = meth), infer = c(TRUE, TRUE)))
    inf <- do.call(rbind, info)
    list(emmeans = data.frame(modality = as.character(es$modality),
                              wave = as.character(es$wave), emmean = es$emmean, se = es$SE),
         contrasts = data.frame(a = inf[, 1], b = inf[, 2], from = inf[, 3], to = inf[, 4],
                                estimate = ct$estimate, se = ct$SE, z = ct$z.ratio,
                                p = ct$p.value, lower = ct$asymp.LCL, upper = ct$asymp.UCL))
  }
  lat_default <- latent(fit)
  lat_tight <- latent(best)
  emm_out <- lat_default$emmeans
  emm_out$emmean <- lat_tight$emmeans$emmean
  contrasts <- lat_default$contrasts
  contrasts$estimate <- lat_tight$contrasts$estimate

  pr <- as.data.frame(summary(emmeans(best, ~ wave * modality | answer, mode = "prob")))
  probs <- data.frame(modality = as.character(pr$modality), wave = as.character(pr$wave),
                      category = as.character(pr$answer), prob = pr$prob)

  # The data are embedded in the call, so that nominal_test() can update() the model.
  plain <- eval(bquote(clm(answer ~ wave * modality, data = .(d), link = .(link))))
  nt <- nominal_test(plain)
  nominal <- data.frame(term = rownames(nt)[-1], df = nt$Df[-1], logLik = nt$logLik[-1],
                        lrt = nt$LRT[-1], p = nt[["Pr(>Chi)"]][-1])
  clm_out <- coef_rows(plain, time, group, d)
  clm_out$logLik <- as.numeric(logLik(plain))
  clm_out$AIC <- AIC(plain)
  clm_out$nominal_test <- nominal

  ref <- list(
    name = name, notes = notes, link = link, time_order = time_order,
    columns = list(outcome = "answer", time = time, group = group, cluster = cluster,
                   subject = subject),
    n_obs = nrow(d), counts = as.list(table(d$answer)),
    clmm_default = clmm_values(fit, time, group, d, cluster),
    clmm_default_seconds = secs,
    clmm_tight = clmm_values(tight, time, group, d, cluster),
    clmm_best = best_name,
    emmeans = emm_out,
    change_contrasts = contrasts,
    probabilities = probs,
    clm = clm_out,
    versions = list(R = R.version.string, ordinal = as.character(packageVersion("ordinal")),
                    emmeans = as.character(packageVersion("emmeans")))
  )
  writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE),
             file.path(out_dir, paste0(name, ".json")))
  cat(name, ": clmm logLik", ref$clmm_default$logLik, "tight", ref$clmm_tight$logLik, "\n")
}

cuts5 <- c(-1.5, -0.3, 0.8, 2.0)

reference("balanced", gen_data(101, c("coaching", "peer"), c(5, 5), 15, 2, 0.6, 1.0,
                               gain = c(0.5, 1.2), cuts = cuts5),
          "logit", c("baseline", "endline"), "10 sites x 15 participants x 2 waves, complete")

reference("attrition", gen_data(202, c("coaching", "convening", "peer"), c(4, 4, 4),
                                c(10, 20), 3, 0.9, 1.2, gain = c(0.3, 0.6, 0.9), cuts = cuts5,
                                drop_later = 0.25),
          "logit", c("baseline", "midline", "endline"),
          "12 sites x 10-20 participants x 3 waves, about 25% of later waves missing")

reference("rare", gen_data(303, c("coaching", "peer"), c(5, 5), 12, 2, 0.5, 0.8,
                           gain = c(0.4, 1.0), cuts = c(-3.6, -0.5, 0.7, 1.9)),
          "logit", c("baseline", "endline"),
          "10 sites x 12 participants x 2 waves; category 1 is rare")

reference("probit", gen_data(404, c("coaching", "peer"), c(4, 4), 15, 2, 0.4, 0.7,
                             gain = c(0.2, 0.7), cuts = c(-1.0, -0.2, 0.6, 1.3), link = "probit"),
          "probit", c("baseline", "endline"), "8 sites x 15 participants x 2 waves, probit link")

reference("singular", gen_data(202, c("coaching", "convening", "peer"), c(4, 4, 4),
                               c(10, 20), 3, 0.5, 1.2, gain = c(0.3, 0.6, 0.9), cuts = cuts5,
                               drop_later = 0.25),
          "logit", c("baseline", "midline", "endline"),
          "as attrition with a smaller site SD: clmm estimates the site SD at 0 (boundary)")
