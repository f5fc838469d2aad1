"""Pre/post comparisons: did the outcome change between two waves?

Matched pairs (:func:`compare`): the paired t-test, the Wilcoxon signed-rank test as R's
``wilcox.test(post, pre, paired = TRUE)`` (V and its exact or approximate p-value), Cohen's
d_z, Hedges' g_z and the matched-pairs rank-biserial correlation with confidence intervals as
``effectsize`` computes them, and an explicit list of every subject left out and why.
Independent samples (:func:`compare_unmatched`): Welch's t-test, Mann-Whitney W, Hedges' g
and rank-biserial. Yes/no items (:func:`compare_binary`): McNemar's test. Also
:func:`attrition` (who stayed, and were they different at baseline?), :func:`adjust_p`
(``p.adjust``) and :func:`to_json`.

Differences are always post - pre. Every number is checked against R (stats 4.2,
effectsize 0.8.3) in ``tests/reference/prepost``.

Examples
--------
>>> from evalkit.prepost import compare
>>> from evalkit.prepost._toy import toy_prepost
>>> res = compare(toy_prepost(), outcome="score", subject="participant", time="wave",
...               pre="baseline", post="endline", group="site")
>>> res.summary[["group", "n_pairs", "mean_diff"]].round(3).to_dict("records")
[{'group': 'north', 'n_pairs': 6, 'mean_diff': 0.292}, \
{'group': 'south', 'n_pairs': 4, 'mean_diff': 0.625}]
"""

from evalkit.prepost._adjust import adjust_p
from evalkit.prepost._attrition import attrition
from evalkit.prepost._compare import compare, compare_binary, compare_unmatched
from evalkit.prepost._json import to_json
from evalkit.prepost._results import (
    AttritionResult,
    BinaryResult,
    PrePostResult,
    UnmatchedResult,
)

__all__ = [
    "AttritionResult",
    "BinaryResult",
    "PrePostResult",
    "UnmatchedResult",
    "adjust_p",
    "attrition",
    "compare",
    "compare_binary",
    "compare_unmatched",
    "to_json",
]
