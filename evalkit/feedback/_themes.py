"""The theme codebook, suggested theme codes, theme counts and representative quotes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evalkit._yaml import load_model
from evalkit.errors import AnalysisError
from evalkit.privacy import MARKERS, Scrubber, fold

NO_THEME = "no_theme"
SUMMARY_COLUMNS = ["level", "site_id", "modality", "wave", "theme", "label", "n_comments",
                   "n", "share"]
QUOTE_COLUMNS = ["level", "site_id", "theme", "label", "rank", "wave", "quote"]


class Theme(BaseModel):
    """One theme of the codebook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    description: str = ""
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for i, p in enumerate(patterns):
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"patterns[{i}] {p!r} is not a valid regular expression: "
                                 f"{exc}") from None
        return patterns

    @model_validator(mode="after")
    def _has_rules(self) -> Theme:
        if self.id == NO_THEME:
            raise ValueError(f"theme id {NO_THEME!r} is reserved for comments with no theme")
        if not self.keywords and not self.patterns:
            raise ValueError(f"theme {self.id!r} needs at least one keyword or pattern")
        return self

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """One case-insensitive pattern for all keywords and patterns (on accent-folded text)."""
        parts = []
        for kw in self.keywords:
            words = fold(kw.strip()).split()
            body = r"\s+".join(re.escape(w.rstrip("*")) for w in words)
            parts.append(body + (r"\w*" if kw.strip().endswith("*") else "") + r"(?!\w)")
        alternatives = [rf"(?<!\w)(?:{'|'.join(parts)})"] if parts else []
        alternatives += [f"(?:{p})" for p in self.patterns]
        return re.compile("|".join(alternatives), re.IGNORECASE)


class Codebook(BaseModel):
    """A theme codebook (``analyses/themes.yml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = "1"
    themes: tuple[Theme, ...] = Field(min_length=1)

    @field_validator("themes")
    @classmethod
    def _unique(cls, themes: tuple[Theme, ...]) -> tuple[Theme, ...]:
        seen: set[str] = set()
        for i, t in enumerate(themes):
            if t.id in seen:
                raise ValueError(f"themes[{i}].id: duplicate theme id {t.id!r}")
            seen.add(t.id)
        return themes

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.themes]

    def labels(self) -> dict[str, str]:
        """Theme id -> label, with the label of :data:`NO_THEME`."""
        return {**{t.id: t.label for t in self.themes}, NO_THEME: "No theme"}


def load_codebook(path: str | Path) -> Codebook:
    """Read and validate a theme codebook; errors name the file and the key at fault."""
    return load_model(Path(path), Codebook)


def _check_comments(comments: pd.DataFrame, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in comments.columns]
    if missing:
        raise AnalysisError(f"comments: missing column(s) {missing}; columns are "
                            f"{[str(c) for c in comments.columns]}")


def code_themes(comments: pd.DataFrame, *, codebook: Codebook) -> pd.DataFrame:
    """Suggest themes for each comment from the codebook's keywords and patterns.

    Parameters
    ----------
    comments
        ``response_id`` and ``text`` (as from :func:`evalkit.tables.text_answers`).
    codebook
        The theme codebook.

    Returns
    -------
    pandas.DataFrame
        One row per comment x theme it matches: ``response_id, theme, evidence`` (the first
        text that matched). Comments matching no theme have no row.

    Examples
    --------
    >>> import pandas as pd
    >>> book = Codebook(themes=[Theme(id="food", label="Food", keywords=["food bank*"]),
    ...                         Theme(id="waiting", label="Waiting", keywords=["wait*"])])
    >>> comments = pd.DataFrame({"response_id": ["a", "b"],
    ...                          "text": ["Waited hours at the Food Banks", "Fine."]})
    >>> code_themes(comments, codebook=book)
      response_id    theme    evidence
    0           a     food  Food Banks
    1           a  waiting      Waited
    """
    _check_comments(comments, ["response_id", "text"])
    rows = []
    for rid, text in zip(comments["response_id"], comments["text"], strict=True):
        if not isinstance(text, str):
            continue
        folded = fold(text)
        for theme in codebook.themes:
            m = theme.regex.search(folded)
            if m:
                rows.append({"response_id": rid, "theme": theme.id,
                             "evidence": text[m.start():m.end()]})
    return pd.DataFrame(rows, columns=["response_id", "theme", "evidence"])


def _levels(frame: pd.DataFrame):
    yield "collaborative", None, None, frame
    if "modality" in frame.columns:
        for m, sub in frame.groupby("modality", sort=True):
            yield "modality", None, m, sub
    for s, sub in frame.groupby("site_id", sort=True):
        mod = sub["modality"].iloc[0] if "modality" in sub.columns else None
        yield "site", s, mod, sub


def theme_summary(comments: pd.DataFrame, codes: pd.DataFrame, *, codebook: Codebook,
                  waves: Sequence[str] | None = None) -> pd.DataFrame:
    """Theme counts and shares of comments by wave, for the collaborative, modalities, sites.

    Parameters
    ----------
    comments
        ``response_id, site_id, wave`` and optionally ``modality``: every comment.
    codes
        ``response_id, theme``: the final codes (as from :func:`code_themes` or
        :func:`final_codes`).
    codebook
        The codebook (order and labels of the themes).
    waves
        Order of the waves (order of appearance by default).

    Returns
    -------
    pandas.DataFrame
        ``level`` (``collaborative``, ``modality`` or ``site``), ``site_id, modality, wave,
        theme, label``, ``n_comments`` (comments in that group), ``n`` (comments with the
        theme) and ``share`` (n / n_comments). Every theme gets a row, including
        ``no_theme`` for comments coded with none. A comment can count for several themes.
    """
    _check_comments(comments, ["response_id", "site_id", "wave"])
    labels = codebook.labels()
    theme_ids = [*codebook.ids, NO_THEME]
    coded = codes[codes["theme"].isin(codebook.ids)]
    has = coded.groupby("response_id")["theme"].agg(set)
    order = list(waves) if waves is not None else list(dict.fromkeys(comments["wave"]))
    rows = []
    for level, site, modality, sub in _levels(comments):
        for wave in order:
            w = sub[sub["wave"] == wave]
            if w.empty:
                continue
            sets = w["response_id"].map(has)
            n_none = int(sets.isna().sum())
            counts = {t: int(sum(t in s for s in sets.dropna())) for t in codebook.ids}
            counts[NO_THEME] = n_none
            for t in theme_ids:
                rows.append({"level": level, "site_id": site, "modality": modality,
                             "wave": wave, "theme": t, "label": labels[t],
                             "n_comments": len(w), "n": counts[t],
                             "share": counts[t] / len(w)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def select_quotes(comments: pd.DataFrame, codes: pd.DataFrame, *, codebook: Codebook,
                  scrubber: Callable[[str], str], per_theme: int = 3,
                  min_chars: int = 25, max_chars: int = 280) -> pd.DataFrame:
    """A few representative, scrubbed quotes per theme for each site and the collaborative.

    Quotes are chosen deterministically: comments coded with fewer themes first (they say
    one thing clearly), then those that needed no scrubbing, then those closest to 100
    characters; repeated texts are shown once. Every quote is passed through ``scrubber``
    before it is returned, and only the scrubbed text is kept; a ``scrubber`` that is not a
    :class:`~evalkit.privacy.Scrubber` is followed by the default one, so every quote has
    been through the same detectors as the publish scan.

    Parameters
    ----------
    comments
        ``response_id, site_id, wave, text``.
    codes
        ``response_id, theme``: the final codes.
    codebook
        Theme order and labels.
    scrubber
        Function removing personal data, e.g. :class:`Scrubber` or a :func:`scrub` partial.
    per_theme
        Quotes per theme and site.
    min_chars, max_chars
        Length range of comments eligible as quotes (after scrubbing).

    Returns
    -------
    pandas.DataFrame
        ``level`` (``collaborative`` or ``site``), ``site_id, theme, label, rank`` (1 = best),
        ``wave, quote``. No response id is kept, so a quote cannot be linked back to the
        respondent's other answers.
    """
    _check_comments(comments, ["response_id", "site_id", "wave", "text"])
    labels = codebook.labels()
    c = comments[["response_id", "site_id", "wave", "text"]].copy()
    c = c[c["text"].map(lambda t: isinstance(t, str))]
    c["quote"] = c["text"].map(_scrub_twice(scrubber))
    c["scrubbed"] = [any(mk in q for mk in MARKERS) for q in c["quote"]]
    n_themes = codes[codes["theme"].isin(codebook.ids)].groupby("response_id").size()
    c["n_themes"] = c["response_id"].map(n_themes).fillna(0).astype(int)
    length = c["quote"].str.len()
    c = c[(length >= min_chars) & (length <= max_chars)]
    c["distance"] = (c["quote"].str.len() - 100).abs()
    c["key"] = c["quote"].str.casefold().str.strip()
    rows = []
    for level, site, _, sub in _levels(c.drop(columns=["modality"], errors="ignore")):
        if level == "modality":
            continue
        for theme in codebook.ids:
            ids = set(codes.loc[codes["theme"] == theme, "response_id"])
            cand = sub[sub["response_id"].isin(ids)].sort_values(
                ["n_themes", "scrubbed", "distance", "response_id"], kind="mergesort")
            cand = cand.drop_duplicates("key").head(per_theme)
            for rank, rec in enumerate(cand.itertuples(index=False), start=1):
                rows.append({"level": level, "site_id": site, "theme": theme,
                             "label": labels[theme], "rank": rank, "wave": rec.wave,
                             "quote": rec.quote})
    out = pd.DataFrame(rows, columns=QUOTE_COLUMNS)
    out["rank"] = out["rank"].astype(np.int64)
    return out


def _scrub_twice(scrubber: Callable[[str], str]) -> Callable[[str], str]:
    if isinstance(scrubber, Scrubber):
        return scrubber
    default = Scrubber()
    return lambda text: default(scrubber(text))


AGREEMENT_COLUMNS = ["theme", "label", "n_reference", "n_suggested", "true_positive",
                     "false_positive", "false_negative", "precision", "recall", "f1"]


def theme_agreement(suggested: pd.DataFrame, reference: pd.DataFrame, *,
                    codebook: Codebook, comments: Sequence[str]) -> pd.DataFrame:
    """How well suggested codes agree with reference codes: precision and recall per theme.

    Use it to check a codebook against hand-labelled comments, or against the coders'
    corrections once they are imported.

    Parameters
    ----------
    suggested, reference
        ``response_id, theme`` rows (one per comment x theme).
    codebook
        The themes to score.
    comments
        Every comment's ``response_id`` considered (comments with no theme count too).

    Returns
    -------
    pandas.DataFrame
        One row per theme and a last ``all`` row (micro-averaged over themes):
        ``theme, label, n_reference, n_suggested, true_positive, false_positive,
        false_negative, precision`` (TP / (TP + FP)), ``recall`` (TP / (TP + FN)) and ``f1``;
        undefined ratios are missing.

    Examples
    --------
    >>> import pandas as pd
    >>> book = Codebook(themes=[Theme(id="food", label="Food", keywords=["food"])])
    >>> sug = pd.DataFrame({"response_id": ["a", "b"], "theme": "food"})
    >>> ref = pd.DataFrame({"response_id": ["a", "c"], "theme": "food"})
    >>> theme_agreement(sug, ref, codebook=book, comments=["a", "b", "c"])[
    ...     ["theme", "true_positive", "precision", "recall"]]
      theme  true_positive  precision  recall
    0  food              1        0.5     0.5
    1   all              1        0.5     0.5
    """
    ids = set(comments)
    sug = {(r, t) for r, t in zip(suggested["response_id"], suggested["theme"], strict=True)
           if r in ids}
    ref = {(r, t) for r, t in zip(reference["response_id"], reference["theme"], strict=True)
           if r in ids}
    labels = codebook.labels()
    rows = []
    for theme in [*codebook.ids, "all"]:
        s = {p for p in sug if theme in ("all", p[1]) and p[1] in labels}
        r = {p for p in ref if theme in ("all", p[1]) and p[1] in labels}
        tp, fp, fn = len(s & r), len(s - r), len(r - s)
        precision = tp / (tp + fp) if tp + fp else np.nan
        recall = tp / (tp + fn) if tp + fn else np.nan
        f1 = (2 * precision * recall / (precision + recall)
              if tp and precision + recall else (0.0 if tp + fp + fn else np.nan))
        rows.append({"theme": theme, "label": labels.get(theme, "All themes (micro)"),
                     "n_reference": len(r), "n_suggested": len(s), "true_positive": tp,
                     "false_positive": fp, "false_negative": fn, "precision": precision,
                     "recall": recall, "f1": f1})
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
