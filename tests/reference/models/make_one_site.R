# Reference values for a modality with a single site (tests/test_models.py, "one_site").
#
# Regenerate from the repository root with:
#     Rscript tests/reference/models/make_one_site.R
#
# The data are balanced.csv without site S06, which leaves modality "peer" with one site
# (S05): the model fits the peer terms from S05 alone, so clubSandwich's CR2 adjustment of
# that site is singular (its G_j has zero eigenvalues, which matrix_power(-1/2) drops).
# The oracles are those of make_reference.R: this script evaluates that script's function
# definitions only (none of its datasets) and calls its reference() on the new data.
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

for (e in parse(file.path(out_dir, "make_reference.R"))) {
  is_fun <- is.call(e) && identical(e[[1]], as.name("<-")) && is.call(e[[3]]) &&
    identical(e[[3]][[1]], as.name("function"))
  if (is_fun) eval(e, globalenv())
}

d <- read.csv(file.path(out_dir, "balanced.csv"), stringsAsFactors = FALSE)
d <- d[d$site != "S06", ]
write.csv(d, file.path(out_dir, "one_site.csv"), row.names = FALSE)
reference("one_site", d, "score", "wave", c("baseline", "midline", "endline"), "modality",
          "site", "participant")
