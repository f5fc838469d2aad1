"""Community feedback: scale scores, equity breakdowns, comment themes and safe quotes.

* :func:`community_scores` — scale means with confidence intervals by site and wave;
* :func:`equity_breakdown` — the same by demographic group, small cells suppressed;
* :func:`code_themes` — themes suggested from a codebook (``analyses/themes.yml``);
  :func:`export_codes` / :func:`import_codes` let coders correct them (corrected codes win)
  and :func:`final_codes` merges the two;
* :func:`theme_summary`, :func:`select_quotes` — theme counts and representative quotes;
* :func:`theme_agreement` — precision and recall of the suggestions against reference codes;
* :func:`scrub` / :class:`Scrubber` — personal data out of free text before it is stored
  for reporting;
* :func:`feedback_tables` — all of it as result tables for ``results/``.

Examples
--------
>>> from evalkit.feedback import scrub
>>> scrub("Ask for Rosa at rosa.m+help@example.org or 555 010 2288", names=["Rosa Mendez"])
'Ask for [name] at [email] or [phone]'
"""

from __future__ import annotations

from evalkit.feedback._codes import (
    CodeExport,
    CodeImport,
    corrected_codes,
    current_corrections,
    export_codes,
    final_codes,
    import_codes,
    read_comments,
    text_sha,
)
from evalkit.feedback._scores import community_scores, equity_breakdown
from evalkit.feedback._tables import (
    TABLE_NAMES,
    feedback_tables,
    project_scrubber,
    read_names,
)
from evalkit.feedback._themes import (
    NO_THEME,
    Codebook,
    Theme,
    code_themes,
    load_codebook,
    select_quotes,
    theme_agreement,
    theme_summary,
)
from evalkit.privacy import COMMON_WORD_NAMES, MARKERS, Scrubber, scrub

__all__ = [
    "community_scores",
    "equity_breakdown",
    "Codebook",
    "Theme",
    "NO_THEME",
    "load_codebook",
    "code_themes",
    "theme_summary",
    "select_quotes",
    "theme_agreement",
    "final_codes",
    "corrected_codes",
    "current_corrections",
    "read_comments",
    "export_codes",
    "import_codes",
    "CodeExport",
    "CodeImport",
    "text_sha",
    "scrub",
    "Scrubber",
    "MARKERS",
    "COMMON_WORD_NAMES",
    "read_names",
    "project_scrubber",
    "feedback_tables",
    "TABLE_NAMES",
]
