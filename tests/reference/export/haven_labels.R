# What R sees in evalkit's Stata and SPSS exports of the fixed project.
# R 4.x, haven (Debian r-cran-haven), jsonlite. Run from the repository root:
#   python tests/reference/export/fixed.py        # writes tests/reference/export/fixed/
#   Rscript tests/reference/export/haven_labels.R # writes haven_labels.json
library(haven)
library(jsonlite)

dir <- "tests/reference/export/fixed"
describe <- function(df) {
  vars <- list()
  for (name in names(df)) {
    x <- df[[name]]
    labs <- attr(x, "labels", exact = TRUE)
    entry <- list(label = attr(x, "label", exact = TRUE),
                  class = class(x)[1],
                  labels = if (is.null(labs)) list() else
                    lapply(seq_along(labs), function(i)
                      list(value = unname(as.numeric(labs[i])), label = names(labs)[i])))
    if (is.numeric(x)) {
      entry$sum <- sum(as.numeric(x), na.rm = TRUE)
      entry$n_missing <- sum(is.na(x))
    }
    vars[[name]] <- entry
  }
  list(file_label = attr(df, "label", exact = TRUE), n_rows = nrow(df),
       columns = names(df), variables = vars)
}

out <- list(haven = as.character(packageVersion("haven")), R = R.version.string,
            stata = list(), spss = list())
for (f in sort(list.files(dir, pattern = "\\.dta$", full.names = TRUE)))
  out$stata[[sub("\\.dta$", "", basename(f))]] <- describe(read_dta(f))
for (f in sort(list.files(dir, pattern = "\\.sav$", full.names = TRUE)))
  out$spss[[sub("\\.sav$", "", basename(f))]] <- describe(read_sav(f))
write_json(out, "tests/reference/export/haven_labels.json", auto_unbox = TRUE, pretty = TRUE,
           digits = NA, null = "null")
