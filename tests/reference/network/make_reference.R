# Reference values for evalkit.network's respondent-dependent measures, by hand in base R.
#
# Regenerate from the repository root:
#   Rscript tests/reference/network/make_reference.R
# Reads organizations.csv, ratings.csv and respondents.csv next to this script and writes
# reference.json. Written with R 4.2.2 (base R only: adjacency matrices).
#
# Site S1 has seven organizations. F answered at baseline but rated nobody (it has no rating
# row); G never answered. Each measure is computed twice: with the respondents table, and
# with only the raters as respondents (what the ratings alone suggest).
#   reciprocity: share of ties between two respondents that are returned,
#                sum(A * t(A)) / sum(A) over the respondents' rows and columns
#   density:     ties / (n (n - 1)) over all seven organizations
#   change:      counted on the ties reported by organizations that responded at both waves

suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else getwd()
read <- function(name) read.csv(file.path(here, name), stringsAsFactors = FALSE)

orgs <- read("organizations.csv")$org_id
ratings <- read("ratings.csv")
table_resp <- read("respondents.csv")
min_level <- 3

levels_matrix <- function(wave) {
  L <- matrix(0, length(orgs), length(orgs), dimnames = list(orgs, orgs))
  r <- ratings[ratings$wave == wave, ]
  L[cbind(r$org_id, r$partner_id)] <- r$collaboration
  L
}

wave_measures <- function(wave, resp) {
  A <- (levels_matrix(wave) >= min_level) * 1
  n <- length(orgs)
  R <- A[resp, resp, drop = FALSE]
  list(n_orgs = n, n_respondents = length(resp), n_nonrespondents = n - length(resp),
       response_rate = length(resp) / n, ties = sum(A), density = sum(A) / (n * (n - 1)),
       ties_among_respondents = sum(R), reciprocated = sum(R * t(R)),
       reciprocity = sum(R * t(R)) / sum(R))
}

change <- function(resp_pre, resp_post) {
  both <- sort(intersect(resp_pre, resp_post))
  P <- levels_matrix("baseline")[both, , drop = FALSE]
  Q <- levels_matrix("endline")[both, , drop = FALSE]
  tp <- P >= min_level
  tq <- Q >= min_level
  list(n_raters_both = length(both), ties_pre = sum(tp), ties_post = sum(tq),
       ties_gained = sum(!tp & tq), ties_lost = sum(tp & !tq),
       ties_deepened = sum(tp & tq & Q > P), ties_weakened = sum(tp & tq & Q < P),
       ties_kept = sum(tp & tq & Q == P))
}

variant <- function(resp_of) {
  list(baseline = wave_measures("baseline", resp_of("baseline")),
       endline = wave_measures("endline", resp_of("endline")),
       change = change(resp_of("baseline"), resp_of("endline")))
}
# the table, plus anyone who rated (a rater answered), as evalkit does
with_table <- function(w) sort(union(table_resp$org_id[table_resp$wave == w],
                                     ratings$org_id[ratings$wave == w]))
raters_only <- function(w) sort(unique(ratings$org_id[ratings$wave == w]))

out <- list(
  meta = list(r_version = R.version.string, min_level = min_level,
              note = "base R adjacency matrices; see the header of make_reference.R"),
  respondents_table = variant(with_table),
  raters_only = variant(raters_only)
)
write_json(out, file.path(here, "reference.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
