"""One simulated collaborative: draw the data, fit the modality model as evalkit does, test.

Everything here works on arrays: the data of a simulation are drawn already sorted by site
and participant, and the model's design is built directly (no DataFrame), then fitted with
the same REML engine, Satterthwaite and Kenward-Roger degrees of freedom and site-level
randomization test as :func:`evalkit.models.modality_model`. A test checks the design built
here against :func:`evalkit.models._design.build_design` on the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy import stats as sps

from evalkit.design._parameters import PowerParameters
from evalkit.models._design import Design
from evalkit.models._emmeans import change_contrasts
from evalkit.models._kenward_roger import kenward_roger_df, kenward_roger_state
from evalkit.models._permutation import n_relabelings, permutation_test
from evalkit.models._reml import block_stats, evaluate, optimize_psi
from evalkit.models._satterthwaite import satterthwaite_df, satterthwaite_f, satterthwaite_state

GROUP, TIME, CLUSTER, SUBJECT, OUTCOME = "modality", "wave", "site", "participant", "score"


@dataclass(frozen=True)
class Draw:
    """One simulated collaborative, rows sorted by site, participant and wave."""

    y: np.ndarray
    site: np.ndarray
    participant: np.ndarray
    time_code: np.ndarray
    site_group: np.ndarray  # modality code of each site


def draw(params: PowerParameters, sites: tuple[int, ...], participants: int,
         rng: np.random.Generator, *, assignment: str = "lot", shift: np.ndarray | None = None
         ) -> Draw:
    """Draw one collaborative: ``sites[k]`` sites of modality ``k``, ``participants`` each.

    ``assignment="lot"`` gives modalities to sites at random; ``"chosen"`` lets sites pick:
    sites with higher levels (site intercept plus as much noise) take the modalities in model
    order, so the modalities differ at baseline as chosen modalities do. ``shift`` is added
    to the (modalities x waves) change (the minimum detectable difference search uses it).
    """
    K = len(params.modalities)
    T = len(params.waves)
    J = int(sum(sites))
    n = int(participants)
    P = J * n
    u = rng.normal(0.0, params.site_sd, J)
    labels = np.repeat(np.arange(K), sites)
    if assignment == "lot":
        site_group = rng.permutation(labels)
    else:
        score = u + rng.normal(0.0, max(params.site_sd, 1e-12), J)
        site_group = np.empty(J, dtype=np.int64)
        site_group[np.argsort(-score, kind="stable")] = labels
    v = rng.normal(0.0, params.site_change_sd, (J, T)) if params.site_change_sd > 0 else 0.0
    b = rng.normal(0.0, params.participant_sd, P)
    e = rng.normal(0.0, params.residual_sd, (P, T))
    present = np.ones((P, T), dtype=bool)
    for t in range(1, T):
        a = params.attrition[t - 1]
        if a > 0:
            present[:, t] = present[:, t - 1] & (rng.random(P) >= a)
        else:
            present[:, t] = present[:, t - 1]
    change = params.change_matrix if shift is None else params.change_matrix + shift
    psite = np.repeat(np.arange(J), n)
    mean = change[site_group[psite]]  # (P, T)
    site_part = u[psite][:, None] + (v[psite] if isinstance(v, np.ndarray) else 0.0)
    y_full = mean + site_part + b[:, None] + e
    mask = present.ravel()
    return Draw(
        y=y_full.ravel()[mask],
        site=np.repeat(psite, T)[mask],
        participant=np.repeat(np.arange(P), T)[mask],
        time_code=np.tile(np.arange(T), P)[mask],
        site_group=site_group.astype(np.int64),
    )


def build(d: Draw, modalities: tuple[str, ...], waves: tuple[str, ...]) -> Design:
    """The modality model's design of a draw, as ``build_design`` makes it (no covariates).

    Site and participant codes are renumbered from 0 in order; every modality and wave must
    have data.
    """
    _, site = np.unique(d.site, return_inverse=True)
    _, participant = np.unique(d.participant, return_inverse=True)
    present_sites = np.unique(d.site)
    site_group = d.site_group[present_sites]
    g_code = site_group[site]
    n = d.y.size
    K, T = len(modalities), len(waves)
    cols = [np.ones(n)]
    terms = ["Intercept"]
    for i in range(1, T):
        cols.append((d.time_code == i).astype(float))
        terms.append(f"{TIME}[T.{waves[i]}]")
    for j in range(1, K):
        cols.append((g_code == j).astype(float))
        terms.append(f"{GROUP}[T.{modalities[j]}]")
    for j in range(1, K):
        for i in range(1, T):
            cols.append(((d.time_code == i) & (g_code == j)).astype(float))
            terms.append(f"{TIME}[T.{waves[i]}]:{GROUP}[T.{modalities[j]}]")
    kinds = (["intercept"] + ["time"] * (T - 1) + ["group"] * (K - 1)
             + ["interaction"] * ((T - 1) * (K - 1)))
    return Design(
        outcome=OUTCOME, time=TIME, group=GROUP, cluster=CLUSTER, subject=SUBJECT,
        covariates=(), time_levels=tuple(waves), group_levels=tuple(modalities),
        terms=tuple(terms), term_kinds=tuple(kinds), X=np.column_stack(cols), y=d.y,
        site=site.astype(np.int64), participant=participant.astype(np.int64),
        time_code=d.time_code.astype(np.int64),
        site_names=tuple(f"S{k + 1}" for k in range(present_sites.size)),
        site_group=site_group.astype(np.int64),
    )


def subset(d: Draw, groups: tuple[int, int], times: tuple[int, int]) -> Draw:
    """The rows of two modalities and two waves, recoded 0/1 (for the pairwise test)."""
    g_row = d.site_group[d.site]
    keep = np.isin(g_row, groups) & np.isin(d.time_code, times)
    new_group = np.where(d.site_group == groups[0], 0, 1)
    return Draw(y=d.y[keep], site=d.site[keep], participant=d.participant[keep],
                time_code=np.where(d.time_code[keep] == times[0], 0, 1),
                site_group=new_group)


@dataclass(frozen=True)
class Contrast:
    """One difference in change the power analysis reports."""

    a: str
    b: str
    start: str
    end: str
    row: np.ndarray
    truth: float
    groups: tuple[int, int]
    times: tuple[int, int]


def contrasts(params: PowerParameters, design: Design) -> list[Contrast]:
    """Every pair of modalities x every change from the first wave, with its true value."""
    out = []
    m, w = params.modalities, params.waves
    for c in change_contrasts(design, changes="baseline"):
        out.append(Contrast(c.a, c.b, c.start, c.end, c.row,
                            params.difference(c.a, c.b, c.start, c.end),
                            (m.index(c.a), m.index(c.b)), (w.index(c.start), w.index(c.end))))
    return out


def permutation_floor(sites: tuple[int, ...]) -> float:
    """Smallest p the exact site-level randomization test can give with these sites.

    Relabelings that only swap modalities with equal numbers of sites give the same
    statistic (it tests equal changes, whatever the labels), so the floor is the number of
    such swaps over the number of distinct relabelings.
    """
    labels = np.repeat(np.arange(len(sites)), sites)
    total = n_relabelings(labels)
    same = 1
    for c in set(sites):
        same *= math.factorial(sum(1 for s in sites if s == c))
    return float(same / total)


@dataclass(frozen=True)
class Outcome:
    """What one simulation gives for each contrast (arrays over contrasts)."""

    error: np.ndarray  # estimate - truth
    se: np.ndarray  # model-based SE (Satterthwaite: vcov_beta)
    df_satterthwaite: np.ndarray
    se_kr: np.ndarray
    df_kr: np.ndarray
    p_pair_permutation: np.ndarray
    p_joint_model: float
    p_joint_permutation: float
    converged: bool
    singular: bool


def analyse(d: Draw, params: PowerParameters, cons: list[Contrast], *, kenward_roger: bool,
            permutation: bool, permutations: int, max_exact: int, seed: int,
            all_changes: bool = True) -> Outcome:
    """Fit the modality model to one draw and run the tests evalkit runs (the pairwise
    randomization tests of every change, or with ``all_changes=False`` only of the changes
    to the last wave)."""
    design = build(d, params.modalities, params.waves)
    stats = block_stats(design.X, design.y, design.site, design.participant)
    opt = optimize_psi(stats, True)
    psi = opt.psi
    ev = evaluate(stats, *psi)
    nu = stats.n - stats.p
    sigma2 = ev.r2 / nu
    C = linalg.cho_solve((ev.chol, True), np.eye(stats.p))
    vcov = sigma2 * C
    beta = ev.beta
    L = np.array([c.row for c in cons])
    truth = np.array([c.truth for c in cons])
    est = L @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, vcov, L))
    varpar = np.array([math.sqrt(psi[0]), math.sqrt(psi[1]), math.sqrt(sigma2)])
    sat = satterthwaite_state(stats, varpar, vcov, True)
    df_s = satterthwaite_df(sat, L)
    idx = design.interaction_columns()
    F, q, ddf = satterthwaite_f(sat, beta, np.eye(stats.p)[idx])
    p_joint = float(sps.f.sf(F, q, ddf))
    if kenward_roger:
        kr = kenward_roger_state(design.X, design.site, design.participant, psi,
                                 math.sqrt(sigma2), vcov)
        se_kr = np.sqrt(np.einsum("ij,jk,ik->i", L, kr.vcov_adjusted, L))
        try:
            df_kr = kenward_roger_df(kr, L)
        except Exception:  # noqa: BLE001 - a degenerate fit counts as no decision
            df_kr = np.full(len(cons), np.nan)
    else:
        se_kr = np.full(len(cons), np.nan)
        df_kr = np.full(len(cons), np.nan)
    p_pair = np.full(len(cons), np.nan)
    p_perm = math.nan
    if permutation:
        ss = np.random.SeedSequence(seed)
        seeds = ss.generate_state(len(cons) + 1)
        p_perm = permutation_test(design, reml=True, max_exact=max_exact,
                                  n_permutations=permutations, seed=int(seeds[0])).p
        for k, c in enumerate(cons):
            if len(params.modalities) == 2 and len(params.waves) == 2:
                p_pair[k] = p_perm  # two modalities, two waves: the same test
                continue
            if not all_changes and c.times[1] != len(params.waves) - 1:
                continue
            p_pair[k] = pair_permutation_p(d, params, c, permutations=permutations,
                                           max_exact=max_exact, seed=int(seeds[k + 1]))
    return Outcome(error=est - truth, se=se, df_satterthwaite=df_s, se_kr=se_kr, df_kr=df_kr,
                   p_pair_permutation=p_pair, p_joint_model=p_joint,
                   p_joint_permutation=float(p_perm), converged=opt.converged,
                   singular=bool(min(psi) < 1e-8))


def pair_permutation_p(d: Draw, params: PowerParameters, c: Contrast, *, permutations: int,
                       max_exact: int, seed: int) -> float:
    """evalkit's site-level randomization test on the sites of two modalities and the two
    waves of one change (its statistic is then the square of that contrast's t)."""
    sub = subset(d, c.groups, c.times)
    design = build(sub, (c.a, c.b), (c.start, c.end))
    return float(permutation_test(design, reml=True, max_exact=max_exact,
                                  n_permutations=permutations, seed=seed).p)
