"""Validation of pre/post input and the pairing of each subject's two responses.

Every check raises :class:`~evalkit.errors.AnalysisError` with a one-line message that names
the column, level or parameter at fault, what was expected and what was received, so that
the CLI can print it as it is.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError

Duplicates = Literal["error", "exclude"]


def show(value: Any) -> str:
    """``repr`` of a value as the user wrote it (numpy scalars shown as plain Python)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _preview(values: list[Any], limit: int = 8) -> str:
    shown = [str(v) for v in values[:limit]]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return "[" + ", ".join(repr(v) for v in shown) + "]" + more


def check_frame(data: Any) -> pd.DataFrame:
    """The data must be a pandas DataFrame with at least one row."""
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(
            f"data must be a pandas DataFrame; received {type(data).__name__}"
        )
    if data.empty:
        raise AnalysisError("data has no rows")
    return data


def check_columns(data: pd.DataFrame, roles: dict[str, str | None]) -> None:
    """Every named column (role -> column name) must exist in ``data``."""
    for role, column in roles.items():
        if column is None:
            continue
        if not isinstance(column, str):
            raise AnalysisError(
                f"{role} must be a column name (str); received {type(column).__name__}"
            )
        if column not in data.columns:
            raise AnalysisError(
                f"{role} column '{column}' not found in data; columns are "
                f"{_preview([str(c) for c in data.columns], limit=12)}"
            )
    used = [c for c in roles.values() if c is not None]
    for column in set(used):
        if used.count(column) > 1:
            both = [role for role, c in roles.items() if c == column]
            raise AnalysisError(
                f"column '{column}' is given for more than one role ({', '.join(both)})"
            )


def time_label(value: Any) -> str:
    """A time level as text; whole numbers stored as floats (2.0, from a column with gaps)
    read as "2"."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def time_labels(
    data: pd.DataFrame, time: str, pre: Any, post: Any
) -> tuple[pd.Series, str, str]:
    """The time column as text labels (missing stays None), and pre/post as text.

    Raises when pre equals post or either level does not occur in the column.
    """
    pre_s, post_s = time_label(pre), time_label(post)
    if pre_s == post_s:
        raise AnalysisError(f"pre and post must be different time levels; both are '{pre_s}'")
    labels = data[time].map(lambda v: None if _is_missing(v) else time_label(v))
    levels = sorted({v for v in labels if not _is_missing(v)})
    for name, level in (("pre", pre_s), ("post", post_s)):
        if level not in levels:
            raise AnalysisError(
                f"{name} time level '{level}' not found in column '{time}'; levels are "
                f"{_preview(levels)}"
            )
    return labels, pre_s, post_s


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def numeric_outcome(data: pd.DataFrame, column: str) -> pd.Series:
    """The outcome column as floats (NaN for missing); raise on non-numeric or infinite values.

    Numbers stored as text (``"3.5"``) are accepted; empty strings count as missing.
    """
    s = data[column]
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        values = pd.Series(s.to_numpy(dtype=float, na_value=np.nan), index=s.index)
    else:
        text = s.map(lambda v: np.nan if _is_missing(v) or (isinstance(v, str) and not v.strip())
                     else v)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        bad = text.notna() & values.isna()
        if bad.any():
            first = text[bad].iloc[0]
            raise AnalysisError(
                f"outcome column '{column}' must be numeric; found {show(first)} in row "
                f"{show(text[bad].index[0])} ({int(bad.sum())} non-numeric values)"
            )
    inf = np.isinf(values.to_numpy())
    if inf.any():
        raise AnalysisError(
            f"outcome column '{column}' has {int(inf.sum())} infinite values (first in row "
            f"{show(values.index[inf][0])}); expected finite numbers or missing values"
        )
    return values


def check_conf_level(conf_level: float) -> None:
    if not (isinstance(conf_level, int | float) and 0 < conf_level < 1):
        raise AnalysisError(f"conf_level must be between 0 and 1; received {show(conf_level)}")


def check_duplicates_option(duplicates: str) -> None:
    if duplicates not in ("error", "exclude"):
        raise AnalysisError(
            f"duplicates must be 'error' or 'exclude'; received {show(duplicates)}"
        )


@dataclass(frozen=True, eq=False)
class Paired:
    """One row per subject with the bookkeeping the analyses need.

    A subject is a subject id, or with a group column a (group, subject id) pair: ids need
    only be unique within a group (participants numbered P01, P02, ... at every site).
    ``subjects`` columns: key (a number per subject), subject, [group], n_pre_rows,
    n_post_rows, pre, post, duplicated, group_ok, reason (None for a usable pair).
    ``pairs`` and ``excluded`` are views of it. ``rows`` holds the pre and post rows used:
    key, subject, [group], time, y.
    """

    subjects: pd.DataFrame
    pairs: pd.DataFrame
    excluded: pd.DataFrame
    group: str | None
    rows: pd.DataFrame


def _who(sid: Any, g: Any, group: str | None) -> str:
    """A subject as the messages name it: ``'P01'`` or ``'P01' in site 'north'``."""
    if group is None or _is_missing(g):
        return show(sid)
    return f"{show(sid)} in {group} {show(g)}"


def _place_in_groups(frame: pd.DataFrame, group: str) -> tuple[pd.Series, dict[Any, str]]:
    """Each row's group, and the group problem of each subject id that has one.

    A row without a group takes its subject id's group when the id has exactly one
    (recorded at one wave is enough). An id with no group at all is "missing group"; a row
    without a group whose id occurs in several groups cannot be placed.
    """
    has = ~frame["group"].map(_is_missing).astype(bool)
    placed = frame["group"].astype(object).where(has, None)
    if has.all():
        return placed, {}
    groups_of: dict[Any, list[Any]] = {}
    known = frame.loc[has, ["subject", "group"]].drop_duplicates()
    for sid, g in zip(known["subject"], known["group"], strict=True):
        groups_of.setdefault(sid, []).append(g)
    problems: dict[Any, str] = {}
    for idx in frame.index[~has]:
        sid = frame.at[idx, "subject"]
        found = groups_of.get(sid, [])
        if len(found) == 1:
            placed[idx] = found[0]
        elif not found:
            problems[sid] = "missing group"
        else:
            problems[sid] = (f"missing group at a wave, and the id occurs in more than one "
                             f"{group} ({', '.join(show(g) for g in found)})")
    return placed, problems


def pair_responses(
    data: pd.DataFrame,
    *,
    outcome: pd.Series,
    subject: str,
    labels: pd.Series,
    pre: str,
    post: str,
    group: str | None,
    duplicates: Duplicates,
) -> Paired:
    """Match each subject's pre and post response; explain every subject left out.

    With ``group`` the responses are matched on (group, subject id), so an id used in two
    groups is two subjects.
    """
    frame = pd.DataFrame({"subject": data[subject], "time": labels, "y": outcome})
    if group is not None:
        frame["group"] = data[group]
    frame = frame[frame["time"].isin([pre, post])]

    missing_id = frame["subject"].map(_is_missing).astype(bool)
    id_rows = [
        {"subject": None, **({"group": None} if group else {}),
         "reason": f"missing subject id (row {show(idx)})"}
        for idx in frame.index[missing_id]
    ]
    frame = frame[~missing_id].copy()

    problems: dict[Any, str] = {}
    if group is not None:
        frame["group"], problems = _place_in_groups(frame, group)
        key_values = pd.Series(list(zip(frame["group"], frame["subject"], strict=True)),
                               index=frame.index, dtype=object)
    else:
        key_values = frame["subject"]
    codes, _ = pd.factorize(key_values)
    frame["key"] = codes
    first_rows = frame.drop_duplicates("key")
    order = first_rows["key"].to_numpy()
    sids = first_rows["subject"].tolist()
    gids: list[Any] = first_rows["group"].tolist() if group is not None else [None] * len(sids)

    counts = (frame.groupby(["key", "time"], sort=False).size()
              .unstack(fill_value=0).reindex(index=order, columns=[pre, post], fill_value=0))
    n_pre = counts[pre].to_numpy(dtype=int)
    n_post = counts[post].to_numpy(dtype=int)

    row_count = frame.groupby(["key", "time"], sort=False)["time"].transform("size")
    single = frame[row_count.to_numpy() == 1]
    wide = single.pivot(index="key", columns="time", values="y")
    wide = wide.reindex(index=order, columns=[pre, post])
    pre_v = wide[pre].to_numpy(dtype=float)
    post_v = wide[post].to_numpy(dtype=float)
    dup = (n_pre > 1) | (n_post > 1)

    if dup.any() and duplicates == "error":
        detail = []
        for k in np.flatnonzero(dup)[:3]:
            waves = [f"'{w}' ({c} rows)" for w, c in ((pre, n_pre[k]), (post, n_post[k])) if c > 1]
            detail.append(f"{_who(sids[k], gids[k], group)} at {' and '.join(waves)}")
        more = f" and {int(dup.sum()) - 3} more" if dup.sum() > 3 else ""
        raise AnalysisError(
            f"subject column '{subject}' has more than one response at a wave for "
            f"{int(dup.sum())} subjects: {', '.join(detail)}{more}; keep one response per "
            f"subject and wave, or pass duplicates='exclude'"
            + ("; if ids are unique only within a site, pass the site column as group"
               if group is None else "")
        )

    # An id with only one wave in one group and only the other wave in another may be one
    # person who moved (or a data-entry slip): its exclusions say where the other wave is.
    only: dict[Any, list[tuple[Any, str]]] = {}
    if group is not None:
        for k, (sid, g) in enumerate(zip(sids, gids, strict=True)):
            if g is not None and (n_pre[k] == 0) != (n_post[k] == 0):
                only.setdefault(sid, []).append((g, pre if n_pre[k] else post))

    reasons: list[str | None] = []
    group_ok: list[bool] = []
    for k in range(len(order)):
        sid, g = sids[k], gids[k]
        parts: list[str] = []
        if dup[k]:
            parts += [f"duplicate responses at '{w}' ({c} rows)"
                      for w, c in ((pre, n_pre[k]), (post, n_post[k])) if c > 1]
        else:
            for wave, n_rows, value in ((pre, n_pre[k], pre_v[k]), (post, n_post[k], post_v[k])):
                if n_rows == 0:
                    parts.append(f"no '{wave}' response")
                elif np.isnan(value):
                    parts.append(f"missing outcome at '{wave}'")
        placed = group is None or g is not None
        if not placed:
            parts.append(problems.get(sid, "missing group"))
        mine = pre if n_pre[k] else post
        others = [o for o, wave in only.get(sid, []) if o != g and wave != mine]
        if placed and others and parts and (n_pre[k] == 0) != (n_post[k] == 0):
            parts[-1] += (f" (the id also occurs in {group} "
                          f"{', '.join(show(o) for o in others)}; ids are matched within "
                          f"{group})")
        group_ok.append(placed)
        reasons.append("; ".join(parts) if parts else None)

    subjects = pd.DataFrame({"key": order, "subject": pd.Series(sids, dtype=object)})
    if group is not None:
        subjects["group"] = pd.Series(gids, dtype=object)
    subjects["n_pre_rows"] = n_pre
    subjects["n_post_rows"] = n_post
    subjects["pre"] = np.where(dup, np.nan, pre_v)
    subjects["post"] = np.where(dup, np.nan, post_v)
    subjects["duplicated"] = dup
    subjects["group_ok"] = group_ok
    subjects["reason"] = pd.Series(reasons, dtype=object)

    ok = subjects["reason"].isna()
    cols = ["subject", "group"] if group is not None else ["subject"]
    pairs = subjects.loc[ok, [*cols, "pre", "post"]].reset_index(drop=True)
    pairs["diff"] = pairs["post"] - pairs["pre"]
    excluded = subjects.loc[~ok, [*cols, "reason"]]
    if id_rows:
        excluded = pd.concat([pd.DataFrame(id_rows, columns=[*cols, "reason"]), excluded],
                             ignore_index=True)
    excluded = excluded.reset_index(drop=True)
    rows = frame[["key", *cols, "time", "y"]].reset_index(drop=True)
    return Paired(subjects=subjects, pairs=pairs, excluded=excluded, group=group, rows=rows)


def group_levels(values: pd.Series) -> list[Hashable]:
    """Distinct non-missing group values, sorted when they can be."""
    levels = [v for v in pd.unique(values) if not _is_missing(v)]
    try:
        return sorted(levels)
    except TypeError:
        return levels
