# Reference values for evalkit.models (the modality mixed model).
#
# Regenerate from the repository root with:
#     Rscript tests/reference/models/make_reference.R
#
# The script writes the input datasets (<name>.csv, generated once with fixed seeds) and the
# oracle values (<name>.json, full precision) that tests/test_models.py compares against.
# Oracles: lmerTest::lmer (REML and ML, Satterthwaite df), lmerTest summary(ddf =
# "Kenward-Roger") (pbkrtest), emmeans with lmer.df = "satterthwaite" / "kenward-roger",
# emmeans custom difference-in-change contrasts, clubSandwich CR2 with Satterthwaite df
# applied to the lmer fit, and a dense-matrix re-implementation of the site-level
# randomization test (exact enumeration).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(pbkrtest)
  library(clubSandwich)
  library(jsonlite)
})
emm_options(lmerTest.limit = 1e6, pbkrtest.limit = 1e6)

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference/models"

# ---------------------------------------------------------------------------------------------
# Data generation
# ---------------------------------------------------------------------------------------------
gen_data <- function(seed, modalities, sites_per_modality, n_part, waves, sd_site, sd_part,
                     sd_res, wave_eff, mod_eff, inter_eff, drop_base = 0, drop_later = 0,
                     covariate = FALSE) {
  set.seed(seed)
  rows <- list()
  s <- 0
  for (m in seq_along(modalities)) {
    for (k in seq_len(sites_per_modality[m])) {
      s <- s + 1
      site <- sprintf("S%02d", s)
      np <- if (length(n_part) == 1) n_part else sample(n_part[1]:n_part[2], 1)
      u_site <- rnorm(1, 0, sd_site)
      for (p in seq_len(np)) {
        u_part <- rnorm(1, 0, sd_part)
        age <- round(rnorm(1, 40, 10))
        for (w in seq_along(waves)) {
          y <- 50 + wave_eff[w] + mod_eff[m] + inter_eff[m, w] + u_site + u_part +
            rnorm(1, 0, sd_res)
          if (covariate) y <- y + 0.15 * (age - 40)
          drop_p <- if (w == 1) drop_base else drop_later
          if (runif(1) < drop_p) next
          rows[[length(rows) + 1]] <- data.frame(
            site = site, participant = sprintf("P%02d", p), wave = waves[w],
            modality = modalities[m], age = age, score = round(y, 3)
          )
        }
      }
    }
  }
  do.call(rbind, rows)
}

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
patsy_names <- function(nms, factors, data) {
  vapply(nms, function(nm) {
    if (nm == "(Intercept)") return("Intercept")
    parts <- strsplit(nm, ":", fixed = TRUE)[[1]]
    parts <- vapply(parts, function(part) {
      for (f in factors) {
        lv <- substring(part, nchar(f) + 1)
        if (startsWith(part, f) && lv %in% levels(data[[f]])) {
          return(sprintf("%s[T.%s]", f, lv))
        }
      }
      part
    }, character(1))
    paste(parts, collapse = ":")
  }, character(1), USE.NAMES = FALSE)
}

coef_table <- function(cf, factors, data) {
  data.frame(
    term = patsy_names(rownames(cf), factors, data),
    estimate = cf[, "Estimate"], se = cf[, "Std. Error"], df = cf[, "df"],
    t = cf[, "t value"], p = cf[, "Pr(>|t|)"], row.names = NULL
  )
}

varcomp <- function(m, cluster, subject) {
  vc <- as.data.frame(VarCorr(m))
  grp <- ifelse(vc$grp == paste0(cluster, ":", subject), subject, vc$grp)
  data.frame(group = grp, sd = vc$sdcor)
}

emm_table <- function(emm, group, time) {
  s <- summary(emm, infer = c(TRUE, FALSE))
  out <- data.frame(
    g = as.character(s[[group]]), t = as.character(s[[time]]), emmean = s$emmean,
    se = s$SE, df = s$df, lower = s$lower.CL, upper = s$upper.CL
  )
  names(out)[1:2] <- c(group, time)
  out
}

# All distinct assignments of the observed labels to sites (multiset permutations).
relabelings <- function(labels) {
  lv <- sort(unique(labels))
  counts <- as.integer(table(factor(labels, levels = lv)))
  n <- length(labels)
  rec <- function(avail, k) {
    if (k > length(lv)) return(list(character(n)))
    out <- list()
    cmb <- combn(length(avail), counts[k])
    if (is.null(dim(cmb))) cmb <- matrix(cmb, nrow = counts[k])
    for (ci in seq_len(ncol(cmb))) {
      chosen <- avail[cmb[, ci]]
      rest <- rec(setdiff(avail, chosen), k + 1)
      for (r in rest) {
        r[chosen] <- lv[k]
        out[[length(out) + 1]] <- r
      }
    }
    out
  }
  rec(seq_len(n), 1)
}

n_relabelings <- function(labels) {
  counts <- as.integer(table(labels))
  exp(lfactorial(length(labels)) - sum(lfactorial(counts)))
}

# Randomization test: variance parameters from the model without the group terms (invariant
# to relabeling), GLS Wald statistic of the time x group interaction for every relabeling.
permutation_oracle <- function(d, outcome, time, group, cluster, subject, covariates) {
  rhs0 <- paste(c(time, covariates), collapse = " + ")
  f0 <- as.formula(sprintf("%s ~ %s + (1|%s) + (1|%s:%s)", outcome, rhs0, cluster, cluster, subject))
  m0 <- lme4::lmer(f0, data = d, REML = TRUE)
  Z <- getME(m0, "Z")
  Lt <- getME(m0, "Lambdat")
  V <- as.matrix(Matrix::tcrossprod(Z %*% t(Lt)) + Matrix::Diagonal(nrow(d)))
  Vi <- solve(V)
  y <- d[[outcome]]
  sites <- sort(unique(as.character(d[[cluster]])))
  site_label <- vapply(sites, function(s) as.character(d[[group]][d[[cluster]] == s][1]), "")
  rhs <- paste(c(sprintf("%s * %s", time, group), covariates), collapse = " + ")
  stat <- function(lab) {
    dd <- d
    dd[[group]] <- factor(unname(lab[match(as.character(d[[cluster]]), sites)]),
                          levels = levels(d[[group]]))
    X <- model.matrix(as.formula(paste("~", rhs)), dd)
    XtVi <- t(X) %*% Vi
    A <- XtVi %*% X
    b <- solve(A, XtVi %*% y)
    C <- solve(A)
    idx <- grep(":", colnames(X), fixed = TRUE)
    drop(t(b[idx]) %*% solve(C[idx, idx], b[idx]))
  }
  obs <- stat(site_label)
  all <- relabelings(unname(site_label))
  w <- vapply(all, stat, numeric(1))
  tol <- function(x) x * (1 - 1e-9) - 1e-12
  list(p = mean(w >= tol(obs)), n_permutations = length(all), exact = TRUE,
       min_p = mean(w >= tol(max(w))), statistic = obs)
}

# ---------------------------------------------------------------------------------------------
# One dataset -> one JSON of oracle values
# ---------------------------------------------------------------------------------------------
reference <- function(name, d, outcome, time, time_order, group, cluster, subject,
                      covariates = character(0), extra = list()) {
  d[[time]] <- factor(d[[time]], levels = time_order)
  d[[group]] <- factor(d[[group]], levels = sort(unique(d[[group]])))
  d[[cluster]] <- factor(d[[cluster]])
  d[[subject]] <- factor(d[[subject]])
  factors <- c(time, group)
  rhs <- paste(c(sprintf("%s * %s", time, group), covariates), collapse = " + ")
  f <- as.formula(sprintf("%s ~ %s + (1|%s) + (1|%s:%s)", outcome, rhs, cluster, cluster, subject))

  m <- lmerTest::lmer(f, data = d, REML = TRUE)
  m_ml <- lmerTest::lmer(f, data = d, REML = FALSE)
  an <- anova(m, type = 3, ddf = "Satterthwaite")
  int_row <- paste0(time, ":", group)

  emm <- emmeans(m, as.formula(sprintf("~ %s * %s", time, group)), lmer.df = "satterthwaite")
  emm_kr <- emmeans(m, as.formula(sprintf("~ %s * %s", time, group)), lmer.df = "kenward-roger")
  grid <- summary(emm)
  cell <- paste(grid[[time]], grid[[group]], sep = "|")
  groups <- levels(d[[group]])
  from <- time_order[1]

  contrasts <- list()
  robust_contrasts <- list()
  V_cr2 <- vcovCR(m, type = "CR2")
  for (to in time_order[-1]) {
    meth <- list()
    info <- list()
    for (i in seq_along(groups)) for (j in seq_along(groups)) if (i < j) {
      a <- groups[i]; b <- groups[j]
      cc <- numeric(length(cell))
      cc[cell == paste(to, a, sep = "|")] <- 1
      cc[cell == paste(from, a, sep = "|")] <- -1
      cc[cell == paste(to, b, sep = "|")] <- cc[cell == paste(to, b, sep = "|")] - 1
      cc[cell == paste(from, b, sep = "|")] <- cc[cell == paste(from, b, sep = "|")] + 1
      nm <- paste(a, b, sep = " vs ")
      meth[[nm]] <- cc
      info[[nm]] <- c(a = a, b = b)
    }
    for (emm_i in list(list(e = emm, key = "sat"), list(e = emm_kr, key = "kr"))) {
      ct <- contrast(emm_i$e, method = meth, adjust = "none")
      s <- summary(ct, infer = c(TRUE, TRUE))
      s_holm <- summary(contrast(emm_i$e, method = meth, adjust = "holm"), infer = c(FALSE, TRUE))
      for (k in seq_along(meth)) {
        contrasts[[length(contrasts) + 1]] <- data.frame(
          method = emm_i$key, a = info[[k]][["a"]], b = info[[k]][["b"]], from = from, to = to,
          estimate = s$estimate[k], se = s$SE[k], df = s$df[k], t = s$t.ratio[k],
          p = s$p.value[k], lower = s$lower.CL[k], upper = s$upper.CL[k],
          p_adjusted = s_holm$p.value[k]
        )
      }
    }
    # The same contrasts on the fixed-effect scale, for clubSandwich.
    Lbeta <- t(sapply(meth, function(cc) drop(cc %*% emm@linfct)))
    lc <- linear_contrast(m, vcov = V_cr2, contrasts = Lbeta, test = "Satterthwaite",
                          p_values = TRUE)
    for (k in seq_along(meth)) {
      robust_contrasts[[length(robust_contrasts) + 1]] <- data.frame(
        a = info[[k]][["a"]], b = info[[k]][["b"]], from = from, to = to,
        estimate = lc$Est[k], se = lc$SE[k], df = lc$df[k], p = lc$p_val[k]
      )
    }
  }
  contrasts <- do.call(rbind, contrasts)

  ct_cr2 <- coef_test(m, vcov = V_cr2, test = "Satterthwaite")
  robust <- data.frame(
    term = patsy_names(ct_cr2$Coef, factors, d), estimate = ct_cr2$beta, se = ct_cr2$SE,
    df = ct_cr2$df_Satt, t = ct_cr2$tstat, p = ct_cr2$p_Satt
  )

  site_labels <- tapply(as.character(d[[group]]), d[[cluster]], function(x) x[1])
  perm <- if (n_relabelings(site_labels) <= 2000) {
    permutation_oracle(d, outcome, time, group, cluster, subject, covariates)
  } else NULL

  out <- list(
    dataset = name,
    r_version = R.version.string,
    packages = list(lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    pbkrtest = as.character(packageVersion("pbkrtest")),
                    emmeans = as.character(packageVersion("emmeans")),
                    clubSandwich = as.character(packageVersion("clubSandwich"))),
    formula = paste(deparse(f), collapse = ""),
    columns = list(outcome = outcome, time = time, group = group, cluster = cluster,
                   subject = subject, covariates = I(covariates)),
    time_order = time_order,
    reml = list(
      fixed_effects = coef_table(summary(m)$coefficients, factors, d),
      kenward_roger = coef_table(summary(m, ddf = "Kenward-Roger")$coefficients, factors, d),
      variance_components = varcomp(m, cluster, subject),
      reml_criterion = unname(REMLcrit(m)),
      loglik = as.numeric(logLik(m)),
      aic = AIC(m),
      singular = isSingular(m),
      n_obs = nobs(m),
      n_groups = as.list(setNames(as.integer(c(ngrps(m)[cluster], ngrps(m)[paste0(cluster, ":", subject)])),
                                  c(cluster, subject))),
      interaction_test = list(f = an[int_row, "F value"], df1 = an[int_row, "NumDF"],
                              df2 = an[int_row, "DenDF"], p = an[int_row, "Pr(>F)"])
    ),
    ml = list(
      fixed_effects = coef_table(summary(m_ml)$coefficients, factors, d),
      variance_components = varcomp(m_ml, cluster, subject),
      loglik = as.numeric(logLik(m_ml)),
      aic = AIC(m_ml),
      deviance = deviance(m_ml)
    ),
    emmeans = emm_table(emm, group, time),
    emmeans_kr = emm_table(emm_kr, group, time),
    change_contrasts = contrasts[contrasts$method == "sat", -1],
    change_contrasts_kr = contrasts[contrasts$method == "kr", -1],
    robust = robust,
    robust_contrasts = do.call(rbind, robust_contrasts),
    permutation = perm
  )
  out <- c(out, extra)
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, dataframe = "rows"),
             file.path(out_dir, paste0(name, ".json")))
  cat(sprintf("%-12s n=%d singular=%s\n", name, nobs(m), isSingular(m)))
}

write_data <- function(d, name, keep, rename = NULL) {
  d <- d[, keep]
  if (!is.null(rename)) names(d) <- rename
  write.csv(d, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE)
  read.csv(file.path(out_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)
}

waves3 <- c("baseline", "midline", "endline")
mods3 <- c("coaching", "convening", "peer")
inter3 <- rbind(c(0, 0, 0), c(0, 1, 2), c(0, 2, 4))
base_cols <- c("site", "participant", "wave", "modality", "score")

# 1. balanced: 6 sites x 25 participants x 3 waves, 3 modalities.
d <- gen_data(20240501, mods3, c(2, 2, 2), 25, waves3, sd_site = 2, sd_part = 4, sd_res = 3,
              wave_eff = c(0, 2, 3), mod_eff = c(0, 1, -1), inter_eff = inter3)
d <- write_data(d, "balanced", base_cols)
reference("balanced", d, "score", "wave", waves3, "modality", "site", "participant")

# 2. unbalanced with attrition: 12 sites of 8-30 participants, missing waves.
d <- gen_data(20240502, mods3, c(4, 4, 4), c(8, 30), waves3, sd_site = 2.5, sd_part = 4,
              sd_res = 3, wave_eff = c(0, 2, 3), mod_eff = c(0, 1, -1), inter_eff = inter3,
              drop_base = 0.05, drop_later = 0.25)
d <- write_data(d, "unbalanced", base_cols)
reference("unbalanced", d, "score", "wave", waves3, "modality", "site", "participant")

# 3. singular: no site variance; the first seed whose REML fit puts the site SD at zero.
for (seed in 20240600:20240700) {
  d <- gen_data(seed, mods3, c(2, 2, 2), 10, waves3, sd_site = 0, sd_part = 3, sd_res = 3,
                wave_eff = c(0, 2, 3), mod_eff = c(0, 0, 0), inter_eff = inter3 * 0)
  d$site <- factor(d$site); d$wave <- factor(d$wave, levels = waves3)
  m <- lme4::lmer(score ~ wave * modality + (1|site) + (1|site:participant), data = d)
  vc <- as.data.frame(VarCorr(m))
  if (vc$sdcor[vc$grp == "site"] == 0) break
}
d <- write_data(d, "singular", base_cols)
reference("singular", d, "score", "wave", waves3, "modality", "site", "participant",
          extra = list(seed = seed))

# 4. only two sites per modality (two modalities, two waves "pre" < "post").
d <- gen_data(20240503, c("coaching", "peer"), c(2, 2), 20, c("pre", "post"), sd_site = 2,
              sd_part = 4, sd_res = 3, wave_eff = c(0, 3), mod_eff = c(0, 1),
              inter_eff = rbind(c(0, 0), c(0, 2)), drop_later = 0.1)
d <- write_data(d, "two_sites", base_cols)
reference("two_sites", d, "score", "wave", c("pre", "post"), "modality", "site", "participant")

# 5. a covariate, and the user's own column names.
d <- gen_data(20240504, c("control", "mentoring", "workshop"), c(3, 3, 3), c(12, 20),
              c("w1", "w2", "w3"), sd_site = 2, sd_part = 4, sd_res = 3, wave_eff = c(0, 2, 3),
              mod_eff = c(0, 1, -1), inter_eff = inter3, drop_later = 0.15, covariate = TRUE)
d <- write_data(d, "covariate", c("site", "participant", "wave", "modality", "age", "score"),
                rename = c("site_id", "pid", "time", "arm", "age", "outcome"))
reference("covariate", d, "outcome", "time", c("w1", "w2", "w3"), "arm", "site_id", "pid",
          covariates = "age")
