"""Numerical engines of the cumulative-link models (``ordinal::clm`` and ``clmm``).

``fit_clm`` maximises the likelihood of ``P(Y <= k) = F(N theta_k - X beta)`` by Newton's
method with the analytic Hessian (``N`` is a column of ones, or a nominal-effect design as
in ``nominal_test``).

``fit_clmm`` maximises the Laplace approximation of the likelihood of
``P(Y <= k) = F(theta_k - X beta - u_site - u_participant)`` with participants nested in
sites, as ``clmm(..., nAGQ = 1)``: random effects ``u = tau * v`` with ``v`` standard normal,

    -log L(phi) ~ -sum log p_i(v_hat) + |v_hat|^2 / 2 + log det(H) / 2,

``v_hat`` the mode and ``H = I + M' W M`` the Hessian in ``v`` (``W`` the rows' curvatures).
``H`` is block-arrow structured per site (one site column bordering a diagonal of its
participants), so the inner Newton steps, ``log det(H)`` and the needed parts of ``H^-1`` are
closed-form sums: the cost is linear in the rows. The outer gradient is analytic (including
the implicit dependence of ``v_hat`` and ``W`` on the parameters); the Hessian for standard
errors is the central difference of that gradient, in clmm's parameterisation (thresholds,
coefficients, random-effect SDs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse, special

from evalkit.models._ordinal_links import interval

BOUNDARY_TOL = 1e-3  # clmm (paratBoundary2): an SD below this is left out of the Hessian


@dataclass(frozen=True, eq=False)
class ClmFit:
    theta: np.ndarray  # (m, K-1): threshold coefficients per nominal column
    beta: np.ndarray
    loglik: float
    hessian: np.ndarray  # of -log L, in (theta by threshold then nominal column, beta)
    max_gradient: float
    converged: bool
    iterations: int


def _clm_parts(par: np.ndarray, y: np.ndarray, N: np.ndarray, X: np.ndarray, K: int,
               link: str) -> tuple[np.ndarray, np.ndarray]:
    m = N.shape[1]
    theta = par[: m * (K - 1)].reshape(K - 1, m)  # row j: threshold j's coefficients
    beta = par[m * (K - 1):]
    cut = N @ theta.T  # (n, K-1)
    cut = np.column_stack([np.full(len(y), -np.inf), cut, np.full(len(y), np.inf)])
    eta = X @ beta
    rows = np.arange(len(y))
    return cut[rows, y + 1] - eta, cut[rows, y] - eta


def fit_clm(y: np.ndarray, X: np.ndarray, K: int, link: str, *, N: np.ndarray | None = None,
            start: np.ndarray | None = None, max_iter: int = 100) -> ClmFit:
    """Maximum likelihood of the cumulative-link model (Newton-Raphson, step halving)."""
    n = len(y)
    if N is None:
        N = np.ones((n, 1))
    m = N.shape[1]
    p = X.shape[1]
    if start is None:
        cum = np.cumsum(np.bincount(y, minlength=K))[:-1] / n
        th0 = special.logit(cum) if link == "logit" else special.ndtri(cum)
        start = np.concatenate([np.column_stack([th0, np.zeros((K - 1, m - 1))]).ravel(),
                                np.zeros(p)])
    par = np.asarray(start, dtype=float).copy()
    ya = np.where(y < K - 1, y, -1)
    yb = np.where(y > 0, y - 1, -1)
    rows = np.arange(n)
    n_th = m * (K - 1)

    def jac(idx: np.ndarray) -> np.ndarray:
        J = np.zeros((n, n_th + p))
        ok = idx >= 0
        for c in range(m):
            J[rows[ok], idx[ok] * m + c] = N[ok, c]
        J[:, n_th:] = -X
        return J

    Ja, Jb = jac(ya), jac(yb)

    def nll_grad_hess(par: np.ndarray, derivs: bool = True):
        a, b = _clm_parts(par, y, N, X, K, link)
        it = interval(a, b, link)
        if np.any(~(it.p > 0)):
            return math.inf, None, None
        nll = -float(np.log(it.p).sum())
        if not derivs:
            return nll, None, None
        la = np.where(np.isfinite(a), it.la, 0.0)
        lb = np.where(np.isfinite(b), it.lb, 0.0)
        g = -(Ja.T @ la + Jb.T @ lb)
        laa = np.where(np.isfinite(a), it.laa, 0.0)
        lbb = np.where(np.isfinite(b), it.lbb, 0.0)
        lab = np.where(np.isfinite(a) & np.isfinite(b), it.lab, 0.0)
        Hab = (Ja * lab[:, None]).T @ Jb
        H = -((Ja * laa[:, None]).T @ Ja + (Jb * lbb[:, None]).T @ Jb + Hab + Hab.T)
        return nll, g, H

    nll, g, H = nll_grad_hess(par)
    if not math.isfinite(nll):
        raise FloatingPointError("non-finite log-likelihood at the starting values")
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        assert g is not None and H is not None
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        if np.max(np.abs(g)) < 1e-10 or np.max(np.abs(step)) < 1e-12:
            converged = True
            break
        factor = 1.0
        while True:
            trial = par - factor * step
            nll_t, _, _ = nll_grad_hess(trial, derivs=False)
            if nll_t <= nll + 1e-12 * abs(nll):
                break
            factor /= 2.0
            if factor < 1e-10:
                break
        if factor < 1e-10:
            converged = np.max(np.abs(g)) < 1e-6
            break
        par = trial
        nll, g, H = nll_grad_hess(par)
    assert g is not None and H is not None
    return ClmFit(theta=par[:n_th].reshape(K - 1, m), beta=par[n_th:], loglik=-nll, hessian=H,
                  max_gradient=float(np.max(np.abs(g))), converged=converged,
                  iterations=iterations)


# ---------------------------------------------------------------------------------------------
# The mixed model
# ---------------------------------------------------------------------------------------------
@dataclass
class NestedData:
    """Rows of one cumulative-link mixed model, participants nested in sites."""

    y: np.ndarray  # category code 0..K-1
    X: np.ndarray  # fixed-effect design without intercept
    K: int
    site: np.ndarray  # site code of each row
    participant: np.ndarray  # participant code of each row (unique across sites)
    link: str

    def __post_init__(self) -> None:
        self.n_sites = int(self.site.max()) + 1
        self.n_participants = int(self.participant.max()) + 1
        ps = np.zeros(self.n_participants, dtype=np.int64)
        ps[self.participant] = self.site
        self.part_site = ps
        self.ia = np.where(self.y < self.K - 1, self.y, -1)
        self.ib = np.where(self.y > 0, self.y - 1, -1)
        n = len(self.y)
        self.rows_to_part = sparse.csr_matrix(
            (np.ones(n), (self.participant, np.arange(n))), shape=(self.n_participants, n))
        # row index of each stored entry, to put row weights into a copy of the matrix
        self.rows_to_part_order = self.rows_to_part.indices.copy()
        self.part_to_site = sparse.csr_matrix(
            (np.ones(self.n_participants), (ps, np.arange(self.n_participants))),
            shape=(self.n_sites, self.n_participants))


@dataclass
class Laplace:
    """The Laplace approximation at one parameter value (and what its gradient needs)."""

    nla: float
    v_site: np.ndarray
    v_part: np.ndarray
    grad: np.ndarray | None = None
    inner_ok: bool = True


class ClmmObjective:
    """Negative Laplace log-likelihood and its gradient in ``phi = (theta, beta, tau)``."""

    def __init__(self, data: NestedData) -> None:
        self.d = data
        self.v_site = np.zeros(data.n_sites)
        self.v_part = np.zeros(data.n_participants)
        self.evaluations = 0

    def _ab(self, phi: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.d
        th = np.concatenate([[-np.inf], phi[: d.K - 1], [np.inf]])
        return th[d.y + 1] - eta, th[d.y] - eta

    def _split(self, phi: np.ndarray) -> tuple[np.ndarray, float, float]:
        d = self.d
        nb = d.X.shape[1]
        beta = phi[d.K - 1: d.K - 1 + nb]
        return beta, float(phi[-2]), float(phi[-1])

    def _blocks(self, w: np.ndarray, ts: float, tp: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = self.d
        Wp = np.bincount(d.participant, weights=w, minlength=d.n_participants)
        Ws = np.bincount(d.part_site, weights=Wp, minlength=d.n_sites)
        Dp = 1.0 + tp * tp * Wp
        cp = ts * tp * Wp
        Ss = 1.0 + ts * ts * Ws - np.bincount(d.part_site, weights=cp * cp / Dp,
                                              minlength=d.n_sites)
        return Wp, Dp, cp, Ss

    def _solve(self, Dp: np.ndarray, cp: np.ndarray, Ss: np.ndarray, gs: np.ndarray,
               gp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve the block-arrow system ``H x = g`` (g may have several columns)."""
        d = self.d
        if gs.ndim == 1:
            xs = (gs - np.bincount(d.part_site, weights=cp * gp / Dp, minlength=d.n_sites)) / Ss
            xp = (gp - cp * xs[d.part_site]) / Dp
            return xs, xp
        acc = np.asarray(d.part_to_site @ ((cp / Dp)[:, None] * gp))
        xs = (gs - acc) / Ss[:, None]
        xp = (gp - cp[:, None] * xs[d.part_site]) / Dp[:, None]
        return xs, xp

    def evaluate(self, phi: np.ndarray, *, gradient: bool = True, warm: bool = True,
                 tol: float = 1e-10) -> Laplace:
        d = self.d
        self.evaluations += 1
        beta, ts, tp = self._split(phi)
        th = phi[: d.K - 1]
        if np.any(np.diff(th) <= 0):
            return Laplace(math.inf, self.v_site, self.v_part, inner_ok=False)
        fixed = d.X @ beta
        vs = self.v_site.copy() if warm else np.zeros(d.n_sites)
        vp = self.v_part.copy() if warm else np.zeros(d.n_participants)

        def objective(vs: np.ndarray, vp: np.ndarray):
            eta = fixed + ts * vs[d.site] + tp * vp[d.participant]
            a, b = self._ab(phi, eta)
            it = interval(a, b, d.link)
            if np.any(~(it.p > 0)):
                return math.inf, it, a, b
            return (-float(np.log(it.p).sum()) + 0.5 * float(vs @ vs + vp @ vp)), it, a, b

        g_val, it, a, b = objective(vs, vp)
        if not math.isfinite(g_val) and warm:
            vs, vp = np.zeros(d.n_sites), np.zeros(d.n_participants)
            g_val, it, a, b = objective(vs, vp)
        if not math.isfinite(g_val):
            return Laplace(math.inf, vs, vp, inner_ok=False)
        ok = False
        for _ in range(100):
            Rp = np.bincount(d.participant, weights=it.r, minlength=d.n_participants)
            Rs = np.bincount(d.part_site, weights=Rp, minlength=d.n_sites)
            gs = ts * Rs + vs
            gp = tp * Rp + vp
            if max(np.max(np.abs(gs)), np.max(np.abs(gp))) < tol:
                ok = True
                break
            _, Dp, cp, Ss = self._blocks(it.w, ts, tp)
            xs, xp = self._solve(Dp, cp, Ss, gs, gp)
            decrement = float(gs @ xs + gp @ xp)
            if decrement < 1e-13 * max(1.0, abs(g_val)):
                # Inside the region of quadratic convergence the full Newton step is safe
                # (and a line search cannot see changes below rounding): take it and stop.
                n_val, n_it, na, nb = objective(vs - xs, vp - xp)
                if math.isfinite(n_val):
                    vs, vp, g_val, it, a, b = vs - xs, vp - xp, n_val, n_it, na, nb
                ok = True
                break
            factor = 1.0
            while True:
                nvs, nvp = vs - factor * xs, vp - factor * xp
                n_val, n_it, na, nb = objective(nvs, nvp)
                if n_val <= g_val:
                    break
                factor /= 2.0
                if factor < 1e-10:
                    break
            if factor < 1e-10:
                break
            vs, vp, g_val, it, a, b = nvs, nvp, n_val, n_it, na, nb
        self.v_site, self.v_part = vs, vp
        it = interval(a, b, d.link, third=gradient)
        Wp, Dp, cp, Ss = self._blocks(it.w, ts, tp)
        nla = g_val + 0.5 * float(np.log(Dp).sum() + np.log(Ss).sum())
        out = Laplace(nla, vs, vp, inner_ok=ok)
        if gradient:
            out.grad = self._gradient(phi, it, a, b, vs, vp, Wp, Dp, cp, Ss)
        return out

    def _gradient(self, phi: np.ndarray, it, a: np.ndarray, b: np.ndarray, vs: np.ndarray,
                  vp: np.ndarray, Wp: np.ndarray, Dp: np.ndarray, cp: np.ndarray,
                  Ss: np.ndarray) -> np.ndarray:
        d = self.d
        beta, ts, tp = self._split(phi)
        nt = d.K - 1
        nb = d.X.shape[1]
        n_par = nt + nb + 2
        fa = np.isfinite(a)
        fb = np.isfinite(b)
        la = np.where(fa, it.la, 0.0)
        lb = np.where(fb, it.lb, 0.0)
        ia = np.where(fa, d.ia, nt)  # index nt collects nothing
        ib = np.where(fb, d.ib, nt)
        site_of_p = d.part_site
        Rp = np.bincount(d.participant, weights=it.r, minlength=d.n_participants)
        Rs = np.bincount(site_of_p, weights=Rp, minlength=d.n_sites)

        # (1) explicit partial derivatives of g at the mode (envelope theorem)
        g = np.zeros(n_par)
        g[:nt] = -(np.bincount(ia, weights=la, minlength=nt + 1)[:nt]
                   + np.bincount(ib, weights=lb, minlength=nt + 1)[:nt])
        g[nt:nt + nb] = d.X.T @ it.r
        g[-2] = float(vs @ Rs)
        g[-1] = float(vp @ Rp)

        # parts of H^-1
        his = 1.0 / Ss
        hisp = -cp / Dp * his[site_of_p]
        hipp = 1.0 / Dp + (cp / Dp) ** 2 * his[site_of_p]
        Ws = np.bincount(site_of_p, weights=Wp, minlength=d.n_sites)
        # explicit dependence of H on tau: 2 * sum over the block's columns of (C Lam H^-1)_jj
        t_site = Ws * ts * his + np.bincount(site_of_p, weights=Wp * tp * hisp,
                                             minlength=d.n_sites)
        t_part = Wp * tp * hipp + Wp * ts * hisp
        explicit = np.zeros(n_par)
        explicit[-2] = 2.0 * float(t_site.sum())
        explicit[-1] = 2.0 * float(t_part.sum())

        # implicit: dv/dphi = -H^-1 B with B = d(grad_v g)/dphi at fixed v
        ra = np.where(fa, it.ra, 0.0)
        rb = np.where(fb, it.rb, 0.0)
        P = d.n_participants
        Bp = np.empty((P, n_par))
        Bp[:, :nt] = (np.bincount(d.participant * (nt + 1) + ia, weights=ra,
                                  minlength=P * (nt + 1))
                      + np.bincount(d.participant * (nt + 1) + ib, weights=rb,
                                    minlength=P * (nt + 1))).reshape(P, nt + 1)[:, :nt]
        w_rows = d.rows_to_part.copy()
        w_rows.data = it.w[d.rows_to_part_order]
        Bp[:, nt:nt + nb] = np.asarray(w_rows @ d.X)
        Bp[:, -2] = np.bincount(d.participant, weights=it.w * vs[d.site], minlength=P)
        Bp[:, -1] = np.bincount(d.participant, weights=it.w * vp[d.participant], minlength=P)
        Bs = np.asarray(d.part_to_site @ Bp)
        Bs *= ts
        Bp *= tp
        Bs[:, -2] += Rs
        Bp[:, -1] += Rp
        xs, xp = self._solve(Dp, cp, Ss, Bs, Bp)
        dvs, dvp = -xs, -xp

        wa = np.where(fa, it.wa, 0.0)
        wb = np.where(fb, it.wb, 0.0)
        weta = -(wa + wb)
        s_i = d.site
        p_i = d.participant
        v = ts * ts * his[s_i] + 2.0 * ts * tp * hisp[p_i] + tp * tp * hipp[p_i]
        # sum_i v_i dw_i/dphi with d eta_i/dphi = x_i (beta), v_site, v_part (tau) and
        # tau_s dv_s/dphi + tau_p dv_p/dphi, gathered per site and participant
        q = v * weta
        via_w = np.zeros(n_par)
        via_w[nt:nt + nb] = d.X.T @ q
        via_w[-2] = float(q @ vs[s_i])
        via_w[-1] = float(q @ vp[p_i])
        qs = np.bincount(s_i, weights=q, minlength=d.n_sites)
        qp = np.bincount(p_i, weights=q, minlength=P)
        via_w += ts * (qs @ dvs) + tp * (qp @ dvp)
        via_w[:nt] += (np.bincount(ia, weights=v * wa, minlength=nt + 1)[:nt]
                       + np.bincount(ib, weights=v * wb, minlength=nt + 1)[:nt])
        return g + 0.5 * (explicit + via_w)


@dataclass(frozen=True, eq=False)
class ClmmFit:
    phi: np.ndarray  # thresholds, beta, sd_site, sd_participant
    nla: float
    gradient: np.ndarray
    hessian: np.ndarray  # over the parameters not at the boundary (clmm's Hessian)
    free: np.ndarray  # bool: parameters in the Hessian
    converged: bool
    message: str
    evaluations: int
    v_site: np.ndarray
    v_part: np.ndarray


def _to_internal(phi: np.ndarray, nt: int) -> np.ndarray:
    z = phi.copy()
    z[1:nt] = np.log(np.diff(phi[:nt]))
    return z


def _to_phi(z: np.ndarray, nt: int) -> np.ndarray:
    phi = z.copy()
    phi[:nt] = z[0] + np.concatenate([[0.0], np.cumsum(np.exp(z[1:nt]))])
    return phi


def _chain(z: np.ndarray, grad_phi: np.ndarray, nt: int) -> np.ndarray:
    g = grad_phi.copy()
    tail = np.cumsum(grad_phi[:nt][::-1])[::-1]  # sum over j >= k
    g[0] = tail[0]
    g[1:nt] = np.exp(z[1:nt]) * tail[1:]
    return g


def fit_clmm(data: NestedData, start_beta: np.ndarray, start_theta: np.ndarray, *,
             start_sd: tuple[float, float] = (1.0, 1.0), step: float = 1e-4) -> ClmmFit:
    """Maximise the Laplace likelihood; then polish with Newton steps on the FD Hessian."""
    obj = ClmmObjective(data)
    nt = data.K - 1
    phi0 = np.concatenate([start_theta, start_beta, start_sd])
    z0 = _to_internal(phi0, nt)

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        res = obj.evaluate(_to_phi(z, nt))
        if not math.isfinite(res.nla) or res.grad is None:
            return 1e300, np.zeros_like(z)
        return res.nla, _chain(z, res.grad, nt)

    bounds = [(None, None)] * (len(z0) - 2) + [(0.0, None), (0.0, None)]
    opt = optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-9,
                                     "maxcor": 20})
    phi = _to_phi(opt.x, nt)
    # The likelihood is even in each SD, so an SD at exactly 0 is always stationary: make sure
    # the boundary is a minimum along it, and restart from inside where it is not.
    for j in (-2, -1):
        if phi[j] <= BOUNDARY_TOL:
            base = obj.evaluate(phi, gradient=False).nla
            probe = phi.copy()
            probe[j] = 0.1
            if obj.evaluate(probe, gradient=False).nla < base:
                opt = optimize.minimize(fun, _to_internal(probe, nt), jac=True,
                                        method="L-BFGS-B", bounds=bounds,
                                        options={"maxiter": 1000, "ftol": 1e-15,
                                                 "gtol": 1e-9, "maxcor": 20})
                phi = _to_phi(opt.x, nt)

    def hessian(phi: np.ndarray, free: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(free)
        H = np.zeros((idx.size, idx.size))
        for col, j in enumerate(idx):
            h = step
            up, dn = phi.copy(), phi.copy()
            up[j] += h
            dn[j] -= h
            gu = obj.evaluate(up).grad
            gd = obj.evaluate(dn).grad
            assert gu is not None and gd is not None
            H[:, col] = (gu[idx] - gd[idx]) / (2.0 * h)
        return 0.5 * (H + H.T)

    message = str(opt.message)
    converged = bool(opt.success)
    # Polish: Newton steps with one finite-difference Hessian (L-BFGS-B stops at a relative
    # reduction of the objective, not at a small gradient).
    res = obj.evaluate(phi)
    assert res.grad is not None
    free = np.ones(len(phi), dtype=bool)
    free[-2:] = phi[-2:] > BOUNDARY_TOL
    H = hessian(phi, free)
    h_at = phi.copy()
    for _ in range(6):
        grad = res.grad
        assert grad is not None
        if float(np.max(np.abs(grad[free]))) < 1e-8:
            break
        try:
            stepv = np.linalg.solve(H, grad[free])
        except np.linalg.LinAlgError:
            break
        trial = phi.copy()
        trial[free] -= stepv
        trial[-2:] = np.maximum(trial[-2:], 0.0)
        t_res = obj.evaluate(trial)
        if not (t_res.nla <= res.nla + 1e-12 * abs(res.nla)):
            break
        phi, res = trial, t_res
        if float(np.max(np.abs(phi - h_at))) > 1e-3:  # far from where H was taken
            free[-2:] = phi[-2:] > BOUNDARY_TOL
            H = hessian(phi, free)
            h_at = phi.copy()
    new_free = np.ones(len(phi), dtype=bool)
    new_free[-2:] = phi[-2:] > BOUNDARY_TOL
    # The Hessian for the standard errors is taken at the estimates (a step of 1e-4 changes
    # it by about 1e-4 relative, below the SEs' precision).
    if not np.array_equal(new_free, free) or float(np.max(np.abs(phi - h_at))) > 1e-4:
        free = new_free
        H = hessian(phi, free)
    res = obj.evaluate(phi)  # leave the modes at the optimum
    assert res.grad is not None
    gmax = float(np.max(np.abs(res.grad[free])))
    converged = converged or gmax < 1e-4
    if not res.inner_ok:
        converged = False
        message = "the random-effect modes did not converge at the optimum"
    return ClmmFit(phi=phi, nla=res.nla, gradient=res.grad, hessian=H, free=free,
                   converged=converged and gmax < 1e-3, message=message,
                   evaluations=obj.evaluations, v_site=obj.v_site.copy(),
                   v_part=obj.v_part.copy())
