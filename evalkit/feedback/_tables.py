"""The community-feedback result tables the analysis runner writes to ``results/``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from evalkit.config import ProjectConfig
from evalkit.errors import ConfigError
from evalkit.feedback._codes import (
    corrected_codes,
    current_corrections,
    final_codes,
    read_comments,
)
from evalkit.feedback._scores import community_scores, equity_breakdown
from evalkit.feedback._themes import code_themes, load_codebook, select_quotes, theme_summary
from evalkit.instruments import load_instrument
from evalkit.privacy import Scrubber
from evalkit.store import read_table
from evalkit.tables import wide_answers

TABLE_NAMES = ("feedback_scores", "feedback_equity", "feedback_themes", "feedback_quotes",
               "feedback_codebook")


def read_names(path: str | Path) -> list[str]:
    """Names to scrub from a text file: one per line; blank lines and ``#`` comments skipped.

    Raises
    ------
    ConfigError
        When the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: names file not found")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def project_scrubber(store_path: str | Path, names: Iterable[str] = (), *,
                     region: str = "US", national_ids: Iterable[str] = ()) -> Scrubber:
    """A scrubber for the given people's names and every organization name in the store,
    with the project's phone region and extra national-id patterns (``privacy:``)."""
    orgs = read_table(store_path, "SELECT DISTINCT name FROM organizations "
                                  "WHERE name IS NOT NULL ORDER BY name")["name"]
    return Scrubber(tuple(names), tuple(orgs), region=region,
                    national_ids=tuple(national_ids))


def feedback_tables(store_path: str | Path, config: ProjectConfig, codebook_path: str | Path,
                    *, names: Iterable[str] = (), instrument: str = "community",
                    item: str = "COMMENT", by: Iterable[str] = ("age_group", "language"),
                    per_theme: int = 3) -> dict[str, pd.DataFrame]:
    """Community-feedback result tables, ready to publish.

    Quotes are scrubbed of personal data (the given ``names``, every organization name in
    the store, emails, phone numbers, street addresses) before they are put in a table;
    score and equity cells below ``reports.suppression_threshold`` are suppressed. Theme
    counts use the coders' corrected codes where there are any (see
    :func:`import_codes`).

    Parameters
    ----------
    store_path
        The DuckDB store.
    config
        The project configuration (sites, modalities, waves, suppression threshold).
    codebook_path
        The theme codebook (``analyses/themes.yml``).
    names
        People's names to scrub from quotes (the store holds none); see :func:`read_names`.
    instrument, item
        The community-feedback instrument and its open-ended item.
    by
        Demographic items of the equity breakdown.
    per_theme
        Quotes per theme for each site and for the collaborative.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``feedback_scores`` (:func:`community_scores` plus ``suppressed``; suppressed rows
        keep ``n`` missing and no mean or interval), ``feedback_equity``
        (:func:`equity_breakdown`), ``feedback_themes`` (:func:`theme_summary` plus
        ``n_comments_reviewed``, comments of the group whose codes a coder corrected or
        confirmed),
        ``feedback_quotes`` (:func:`select_quotes`) and ``feedback_codebook`` (``theme,
        label, description``). Empty dict when the configuration does not use the
        instrument.
    """
    if instrument not in config.instruments:
        return {}
    inst = load_instrument(config.path(config.instruments[instrument].file))
    threshold = config.reports.suppression_threshold
    waves = [w for w in config.wave_ids if w in config.instruments[instrument].waves]
    modality = config.site_modality()
    sites = set(modality)

    data = wide_answers(store_path, instrument)
    data = data[data["site_id"].isin(sites)].copy()
    data["modality"] = data["site_id"].map(modality)
    for var in by:
        if var not in data.columns:
            data[var] = float("nan")
    scores = community_scores(data, instrument=inst, waves=waves)
    small = scores["n"] < threshold
    scores["n"] = scores["n"].astype("Int64").mask(small)
    for col in ("mean", "sd", "se", "ci_low", "ci_high"):
        scores[col] = scores[col].mask(small)
    scores["suppressed"] = small.to_numpy()
    equity = equity_breakdown(data, instrument=inst, threshold=threshold, by=list(by),
                              waves=waves)

    codebook = load_codebook(codebook_path)
    comments = read_comments(store_path, instrument=instrument, item=item)
    comments = comments[comments["site_id"].isin(sites)].copy()
    comments["modality"] = comments["site_id"].map(modality)
    suggested = code_themes(comments, codebook=codebook)
    corrected = corrected_codes(store_path, item=item)
    codes = final_codes(comments, suggested, corrected)
    themes = theme_summary(comments, codes, codebook=codebook, waves=waves)
    reviewed = set(current_corrections(comments, corrected)["response_id"])
    themes["n_comments_reviewed"] = _reviewed_counts(themes, comments, reviewed)
    quotes = select_quotes(comments, codes, codebook=codebook,
                           scrubber=project_scrubber(
                               store_path, names, region=config.privacy.default_region,
                               national_ids=config.privacy.national_ids),
                           per_theme=per_theme)
    book = pd.DataFrame([{"theme": t.id, "label": t.label, "description": t.description.strip()}
                         for t in codebook.themes])
    return {"feedback_scores": scores, "feedback_equity": equity, "feedback_themes": themes,
            "feedback_quotes": quotes, "feedback_codebook": book}


def _reviewed_counts(themes: pd.DataFrame, comments: pd.DataFrame,
                     reviewed: set[str]) -> list[int]:
    c = comments.assign(fixed=comments["response_id"].isin(reviewed))
    out = []
    for rec in themes.itertuples(index=False):
        sub = c[c["wave"] == rec.wave]
        if rec.level == "site":
            sub = sub[sub["site_id"] == rec.site_id]
        elif rec.level == "modality":
            sub = sub[sub["modality"] == rec.modality]
        out.append(int(sub["fixed"].sum()))
    return out
