"""Small exact computations behind the WGAN paper's arguments (§2, Example 1) and the GAN's D*."""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats


def emd(p, q, cost=None) -> float:
    """Earth mover's distance between two mass vectors of equal total, by linear programming.

    cost[i, j] is the price of moving one unit from bin i to bin j; default |i - j|.
    Example: emd((3, 2, 1, 4), (1, 2, 4, 3)) == 5.
    """
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.shape != q.shape or not math.isclose(p.sum(), q.sum()):
        raise ValueError("p and q must have the same length and the same total mass")
    n = len(p)
    cost = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]) if cost is None else np.asarray(cost, float)
    # variables: transport plan gamma (n x n, row-major); rows sum to p, columns sum to q
    a_eq = np.vstack([np.kron(np.eye(n), np.ones(n)), np.kron(np.ones(n), np.eye(n))])
    res = optimize.linprog(cost.flatten(), A_eq=a_eq, b_eq=np.concatenate([p, q]), bounds=(0, None),
                           method="highs")
    return float(res.fun)


def parallel_lines(theta: float) -> dict:
    """WGAN Example 1: P0 = (0, U[0,1]), P_theta = (theta, U[0,1]).

    W = |theta|; JS = log 2, KL = +inf, TV = 1 for theta != 0; all 0 at theta = 0.
    Only W is continuous in theta, so only W gives the generator a usable gradient.
    """
    apart = theta != 0
    return {"W": abs(theta), "JS": math.log(2) if apart else 0.0, "KL": math.inf if apart else 0.0,
            "TV": 1.0 if apart else 0.0}


def optimal_discriminator(x, mu_real=0.0, sd_real=1.0, mu_fake=3.0, sd_fake=1.0):
    """D*(x) = p_r(x) / (p_r(x) + p_g(x)) for two Gaussians (Goodfellow et al. 2014, Prop. 1)."""
    pr = stats.norm.pdf(x, mu_real, sd_real)
    pg = stats.norm.pdf(x, mu_fake, sd_fake)
    return pr / (pr + pg)


def w1_gaussians_1d(mu1: float, sd1: float, mu2: float, sd2: float, n: int = 200_001) -> float:
    """W1 between two 1-D Gaussians: integral of |F1^-1(u) - F2^-1(u)| du (numerically)."""
    u = (np.arange(n) + 0.5) / n
    return float(np.mean(np.abs(stats.norm.ppf(u, mu1, sd1) - stats.norm.ppf(u, mu2, sd2))))
