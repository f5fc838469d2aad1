"""Generate the pre/post reference datasets once (seeded); the CSVs are committed.

Run from the repository root: ``.venv/bin/python tests/reference/prepost/make_datasets.py``.
The R oracle (``make_reference.R``) reads only the committed CSVs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(20240611)


def paired_two_decimals(n: int, prefix: str) -> pd.DataFrame:
    """Continuous scores with two decimals; no zero and no tied |differences|; mixed signs."""
    pre_c = np.round(rng.normal(300, 60, n)).astype(int)  # in hundredths
    magnitude = rng.choice(np.arange(1, 160), size=n, replace=False)
    sign = np.ones(n, dtype=int)
    while (sign < 0).sum() < 2:
        sign = np.where(rng.random(n) < 0.7, 1, -1)
    post_c = pre_c + sign * magnitude
    ids = [f"{prefix}{i:03d}" for i in range(1, n + 1)]
    return long_frame(ids, pre_c / 100, post_c / 100)


def long_frame(ids, pre, post, **extra) -> pd.DataFrame:
    rows = []
    for k, sid in enumerate(ids):
        rows.append({"subject": sid, "wave": "baseline", "score": pre[k]})
        rows.append({"subject": sid, "wave": "endline", "score": post[k]})
    out = pd.DataFrame(rows)
    for name, values in extra.items():
        out[name] = np.repeat(values, 2)
    return out


def write(frame: pd.DataFrame, name: str) -> None:
    frame.to_csv(HERE / name, index=False, na_rep="NA")


# 1. basic paired, n = 30, no ties or zeros (exact Wilcoxon, n < 50)
write(paired_two_decimals(30, "B"), "paired_basic.csv")

# 2. paired with ties and zero differences, quarter-point scale means, two sites
n = 40
pre = np.clip(np.round(rng.normal(3.0, 0.7, n) * 4) / 4, 1, 5)
step = rng.choice([-0.5, -0.25, 0.0, 0.0, 0.25, 0.5, 0.75], n)
post = np.clip(pre + step, 1, 5)
site = np.array(["north"] * 22 + ["south"] * 18)
write(long_frame([f"T{i:03d}" for i in range(1, n + 1)], pre, post, site=site),
      "paired_ties.csv")

# 3. small paired, n = 7 (exact signed-rank distribution)
write(paired_two_decimals(7, "S"), "paired_small.csv")

# 4. large paired, n = 60, no ties (normal approximation without tie correction)
write(paired_two_decimals(60, "L"), "paired_large.csv")

# 5. unmatched participants: completers, baseline-only, endline-only, missing outcomes,
#    and a third wave that the pre/post comparison ignores
rows = []
for i in range(1, 26):
    sid = f"U{i:03d}"
    b = round(float(rng.normal(3.1, 0.6)), 2)
    e = round(b + float(rng.normal(0.25, 0.45)), 2)
    rows += [(sid, "baseline", b), (sid, "endline", e)]
    if i % 5 == 0:
        rows.append((sid, "followup", round(e + 0.1, 2)))
for i in range(26, 32):  # dropouts: baseline only
    rows.append((f"U{i:03d}", "baseline", round(float(rng.normal(2.7, 0.6)), 2)))
for i in range(32, 35):  # late joiners: endline only
    rows.append((f"U{i:03d}", "endline", round(float(rng.normal(3.4, 0.6)), 2)))
rows += [("U035", "baseline", np.nan), ("U035", "endline", 3.5)]  # missing outcome at baseline
rows += [("U036", "baseline", 2.9), ("U036", "endline", np.nan)]  # missing outcome at endline
write(pd.DataFrame(rows, columns=["subject", "wave", "score"]), "unmatched.csv")

# 6. cross-sectional, two independent samples with ties (normal approximation)
pre = np.clip(np.round(rng.normal(3.0, 0.8, 35) * 4) / 4, 1, 5)
post = np.clip(np.round(rng.normal(3.4, 0.8, 28) * 4) / 4, 1, 5)
cs = pd.DataFrame({
    "respondent": [f"R{i:03d}" for i in range(1, 64)],
    "wave": ["baseline"] * 35 + ["endline"] * 28,
    "score": np.concatenate([pre, post]),
})
write(cs, "cross_ties.csv")

# 7. cross-sectional, small, no ties (exact Mann-Whitney distribution)
while True:
    vals = np.round(rng.normal(3.2, 0.7, 14), 2)
    if len(np.unique(vals)) == 14:
        break
write(pd.DataFrame({
    "respondent": [f"C{i:02d}" for i in range(1, 15)],
    "wave": ["baseline"] * 8 + ["endline"] * 6,
    "score": vals,
}), "cross_small.csv")

# 8. binary item at both waves (McNemar): counts (pre, post) 00=10, 01=12, 10=4, 11=14
pairs = [(0, 0)] * 10 + [(0, 1)] * 12 + [(1, 0)] * 4 + [(1, 1)] * 14
order = rng.permutation(len(pairs))
pairs = [pairs[k] for k in order]
write(long_frame([f"M{i:03d}" for i in range(1, 41)],
                 np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
      .rename(columns={"score": "practice"}), "binary.csv")

# 9. p-values for multiplicity adjustment (with ties and a missing value)
write(pd.DataFrame({"p": [0.01, 0.04, 0.03, np.nan, 0.005, 0.04, 0.2, 0.65, 0.0001, 0.049]}),
      "pvalues.csv")

# 10. (issue 16) a 0-10 scale with zero differences and post scores of 0: effectsize's
#     two-vector paired call counts nonzero *post scores* in the rank-biserial SE
pre = np.array([0, 2, 3, 5, 4, 6, 1, 7, 3, 2, 8, 5, 0, 4, 6, 3])
post = np.array([0, 0, 5, 5, 6, 9, 0, 8, 3, 4, 9, 7, 2, 4, 8, 5])
write(long_frame([f"Z{i:03d}" for i in range(1, 17)], pre, post), "paired_zero_post.csv")

# 11. (issue 16) degenerate effect sizes: two pairs (g_z's J(1) = 0 in effectsize), and
#     every difference zero (r undefined; effectsize reports 1)
write(long_frame(["D1", "D2"], np.array([3.0, 4.0]), np.array([4.0, 6.0])), "two_pairs.csv")
same = np.array([3.0, 4.0, 2.0, 5.0, 3.5])
write(long_frame([f"E{i}" for i in range(1, 6)], same, same), "all_zero.csv")

# 12. (issue 16) participant ids unique only within a site: P01.. restart at every site,
#     with one dropout per site so that pairing by id alone would mix people up
rows = []
for site, n, shift in (("north", 8, 0.4), ("south", 7, 0.1), ("east", 6, -0.2)):
    for i in range(1, n + 1):
        sid = f"P{i:02d}"
        b = round(float(rng.normal(3.0, 0.6)), 2)
        rows.append((site, sid, "baseline", b))
        if i != n:
            rows.append((site, sid, "endline", round(b + shift + float(rng.normal(0, 0.4)),
                                                     2)))
write(pd.DataFrame(rows, columns=["site", "subject", "wave", "score"]), "site_local_ids.csv")
