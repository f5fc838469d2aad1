# Reference values for evalkit.findings trust_value_by_wave / trust_value_change.
# R 4.x, base stats only: t.test for the site means (one sample), the paired change per site
# (organizations scored at both waves), and the one-sample t over the sites' changes.
# Run from this folder: Rscript network_trust.R  (writes network_trust.json)
d <- read.csv("organizations.csv", stringsAsFactors = FALSE)
out <- list(by_wave = list(), change = list())
for (m in c("trust", "value")) {
  col <- paste0(m, "_received")
  for (w in c("t0", "t1")) {
    site_means <- c()
    for (s in sort(unique(d$site_id))) {
      x <- d[d$site_id == s & d$wave == w & !is.na(d[[col]]), col]
      tt <- t.test(x)
      site_means <- c(site_means, mean(x))
      out$by_wave[[length(out$by_wave) + 1]] <- list(
        level = "site", site_id = s, wave = w, measure = m, n_orgs = length(x),
        mean = mean(x), sd = sd(x), ci_low = tt$conf.int[1], ci_high = tt$conf.int[2])
    }
    tt <- t.test(site_means)
    out$by_wave[[length(out$by_wave) + 1]] <- list(
      level = "collaborative", site_id = NA, wave = w, measure = m,
      n_orgs = length(site_means), mean = mean(site_means), sd = sd(site_means),
      ci_low = tt$conf.int[1], ci_high = tt$conf.int[2])
  }
  changes <- c()
  for (s in sort(unique(d$site_id))) {
    a <- d[d$site_id == s & d$wave == "t0" & !is.na(d[[col]]), c("org_id", col)]
    b <- d[d$site_id == s & d$wave == "t1" & !is.na(d[[col]]), c("org_id", col)]
    both <- merge(a, b, by = "org_id", suffixes = c(".pre", ".post"))
    pre <- both[[paste0(col, ".pre")]]
    post <- both[[paste0(col, ".post")]]
    tt <- t.test(post, pre, paired = TRUE)
    changes <- c(changes, mean(post - pre))
    out$change[[length(out$change) + 1]] <- list(
      level = "site", site_id = s, measure = m, n = nrow(both), mean_pre = mean(pre),
      mean_post = mean(post), change = mean(post - pre), ci_low = tt$conf.int[1],
      ci_high = tt$conf.int[2], p = tt$p.value)
  }
  tt <- t.test(changes)
  out$change[[length(out$change) + 1]] <- list(
    level = "collaborative", site_id = NA, measure = m, n = length(changes),
    change = mean(changes), ci_low = tt$conf.int[1], ci_high = tt$conf.int[2], p = tt$p.value)
}
out$r_version <- R.version.string
writeLines(jsonlite_free <- (function(x) {
  # base R has no JSON writer: a small one for this flat structure
  enc <- function(v) {
    if (is.list(v)) {
      if (!is.null(names(v))) {
        return(paste0("{", paste(sprintf('"%s": %s', names(v), sapply(v, enc)), collapse = ", "), "}"))
      }
      return(paste0("[\n", paste(sapply(v, enc), collapse = ",\n"), "\n]"))
    }
    if (length(v) == 1 && is.na(v)) return("null")
    if (is.character(v)) return(sprintf('"%s"', v))
    sprintf("%.12g", v)
  }
  enc(x)
})(out), "network_trust.json")
