"""Simulation-based calibration (SBC; Talts et al. 2018, arXiv:1804.06788).

For ``n = 1..N``: draw ``θ̃_n`` from the prior, simulate data from it, fit, and keep ``M`` posterior
draws ``θ_{n,1..M}``. If the inference is correct, the rank statistic

    r_n = #{m : θ_{n,m} < θ̃_n}  ∈ {0, …, M}

is uniform on ``{0, …, M}`` for every parameter. A ∪-shaped rank histogram means an over-confident
(too narrow) posterior, a ∩-shape an under-confident one, a slope a biased one.

This module only does the bookkeeping (pure NumPy, no model fitting): ranks, a chi-square uniformity
test and the rank histogram. Posterior draws should be thinned to roughly independent draws first
(Talts et al. sec. 4.1), otherwise autocorrelation alone produces ∪-shaped histograms.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

__all__ = ["sbc_ranks", "sbc_uniformity_pvalue", "sbc_bins", "plot_sbc_hist"]


def sbc_ranks(prior_draws: Mapping[str, np.ndarray], posterior_draws: Sequence[Mapping[str, np.ndarray]],
              rng: np.random.Generator | int | None = 0) -> dict[str, np.ndarray]:
    """Rank of each prior draw among the posterior draws fitted to the data it generated.

    Parameters
    ----------
    prior_draws
        Name -> array ``(N,)`` (or ``(N, ...)`` for vector parameters) of the values used to simulate.
    posterior_draws
        ``N`` mappings (one per simulation, in the same order), name -> ``(M,)`` (or ``(M, ...)``)
        posterior draws; every simulation must have the same ``M``.
    rng
        Generator or seed for breaking ties at random (only matters for discrete or repeated
        draws; Talts et al. sec. 3).

    Returns
    -------
    dict
        Name -> integer array ``(N,)`` (or ``(N, ...)``) of ranks in ``0..M``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> prior = {"a": rng.normal(size=50)}
    >>> post = [{"a": rng.normal(size=99)} for _ in range(50)]
    >>> sbc_ranks(prior, post)["a"].shape
    (50,)
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if not prior_draws:
        raise ValueError("`prior_draws` is empty; expected a mapping name -> array (N,)")
    n = {k: np.shape(v)[0] if np.ndim(v) else 0 for k, v in prior_draws.items()}
    if len(set(n.values())) != 1 or 0 in n.values():
        raise ValueError(f"`prior_draws` arrays must share a leading dimension N >= 1; found lengths {n}")
    N = next(iter(n.values()))
    if len(posterior_draws) != N:
        raise ValueError(f"`posterior_draws` has {len(posterior_draws)} entries; expected one per prior draw "
                         f"(N = {N})")
    out = {}
    for name, truth in prior_draws.items():
        truth = np.asarray(truth, dtype=float)
        ranks = np.empty(truth.shape, dtype=np.int64)
        m_seen = None
        for i, post in enumerate(posterior_draws):
            if name not in post:
                raise ValueError(f"`posterior_draws[{i}]` lacks parameter {name!r}; found {sorted(post)}")
            d = np.asarray(post[name], dtype=float)
            if d.shape[1:] != truth.shape[1:]:
                raise ValueError(f"`posterior_draws[{i}][{name!r}]` has shape {d.shape}; expected (M, "
                                 f"{', '.join(map(str, truth.shape[1:]))}) to match `prior_draws`")
            if m_seen is None:
                m_seen = d.shape[0]
            elif d.shape[0] != m_seen:
                raise ValueError(f"`posterior_draws[{i}][{name!r}]` has {d.shape[0]} draws; expected M = "
                                 f"{m_seen} as in the first simulation")
            less = np.sum(d < truth[i], axis=0)
            ties = np.sum(d == truth[i], axis=0)
            # a tie is equally likely to fall anywhere among the tied draws
            ranks[i] = less + rng.integers(0, ties + 1) if np.any(ties) else less
        out[name] = ranks
    return out


def sbc_bins(M: int, N: int, bins: int | None = None) -> np.ndarray:
    """Edges (in rank units) of the rank histogram: ``bins`` near-equal groups of the ``M + 1`` ranks.

    By default ``bins = min(20, M + 1, max(2, N // 5))``, so that every bin expects at least about
    five simulations (the usual validity condition of the chi-square test).

    Returns
    -------
    numpy.ndarray
        Integer edges ``e_0 = 0 < … < e_B = M + 1``; bin ``k`` holds ranks ``e_k .. e_{k+1} - 1``.
    """
    if M < 1:
        raise ValueError(f"`M` (posterior draws per simulation) must be >= 1; got {M}")
    if bins is None:
        bins = min(20, M + 1, max(2, N // 5))
    if not 2 <= bins <= M + 1:
        raise ValueError(f"`bins` must be in 2..M+1 = {M + 1}; got {bins}")
    return np.round(np.linspace(0, M + 1, bins + 1)).astype(np.int64)


def _counts(r: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of integer ranks per bin ``[e_k, e_{k+1})`` (ranks never reach the last edge M + 1)."""
    return np.histogram(r, bins=edges)[0]


def sbc_uniformity_pvalue(ranks, M: int, bins: int | None = None):
    """Chi-square test that SBC ranks are uniform on ``0..M``.

    Ranks are grouped into the bins of :func:`sbc_bins`; each bin's expected count is ``N`` times its
    share of the ``M + 1`` possible ranks, so unequal bin widths are handled exactly.

    Parameters
    ----------
    ranks
        Integer array ``(N,)`` or ``(N, ...)`` (one test per trailing element), or a mapping name ->
        such an array (the output of :func:`sbc_ranks`).
    M
        Number of posterior draws per simulation.
    bins
        Number of bins (default: :func:`sbc_bins`).

    Returns
    -------
    float, numpy.ndarray or dict
        The p-value (a float for ``(N,)``, an array of shape ``(...)`` otherwise; a dict name -> that
        for a mapping). Small values reject uniformity, i.e. the posterior is miscalibrated.

    Examples
    --------
    >>> ranks = np.random.default_rng(1).integers(0, 100, size=200)
    >>> 0.0 <= sbc_uniformity_pvalue(ranks, M=99) <= 1.0
    True
    """
    from scipy.stats import chisquare

    if isinstance(ranks, Mapping):
        return {k: sbc_uniformity_pvalue(v, M, bins) for k, v in ranks.items()}
    r = np.asarray(ranks)
    if r.ndim == 0 or r.shape[0] == 0:
        raise ValueError(f"`ranks` must have a leading dimension N >= 1; got shape {r.shape}")
    if np.any(r < 0) or np.any(r > M) or not np.all(np.equal(np.mod(r, 1), 0)):
        raise ValueError(f"`ranks` must be integers in 0..M = 0..{M}; found values in [{r.min()}, {r.max()}]")
    N = r.shape[0]
    edges = sbc_bins(M, N, bins)
    expected = N * np.diff(edges) / (M + 1)
    flat = r.reshape(N, -1).astype(np.int64)
    p = np.array([chisquare(_counts(flat[:, j], edges), expected).pvalue for j in range(flat.shape[1])])
    return float(p[0]) if r.ndim == 1 else p.reshape(r.shape[1:])


def plot_sbc_hist(ranks, M: int, bins: int | None = None, prob: float = 0.99,
                  path: str | os.PathLike | None = None):
    """Rank histograms with the band expected under uniformity (Talts et al. 2018, fig. 3).

    Parameters
    ----------
    ranks
        Mapping name -> integer array ``(N,)`` (the output of :func:`sbc_ranks`), or one such array.
    M
        Number of posterior draws per simulation.
    bins
        Number of bins (default: :func:`sbc_bins`).
    prob
        Mass of the grey band: per bin, the central ``prob`` interval of the Binomial(N, width / (M+1))
        count expected under uniformity.
    path
        Optional file to save the figure to.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_sbc_hist(sbc_ranks(prior, post), M=99)  # doctest: +SKIP
    """
    from scipy.stats import binom

    from bayeslsm.diagnostics.plots import _finish, _grid, _pyplot

    if not 0.0 < prob < 1.0:
        raise ValueError(f"`prob` must be a probability in (0, 1); got {prob!r}")
    if not isinstance(ranks, Mapping):
        ranks = {"rank": ranks}
    cols = {}
    for name, r in ranks.items():
        r = np.asarray(r)
        if r.ndim == 1:
            cols[name] = r
        else:
            flat = r.reshape(r.shape[0], -1)
            cols.update({f"{name}[{j}]": flat[:, j] for j in range(flat.shape[1])})
    if not cols:
        raise ValueError("`ranks` is empty; expected a mapping name -> array (N,)")
    plt = _pyplot(path)
    fig, axes = _grid(plt, len(cols), ncols=min(4, len(cols)), size=(3.0, 2.4))
    for ax, (name, r) in zip(axes, cols.items()):
        N = r.shape[0]
        edges = sbc_bins(M, N, bins)
        width = np.diff(edges)
        p_bin = width / (M + 1)
        lo = binom.ppf((1 - prob) / 2, N, p_bin)
        hi = binom.ppf((1 + prob) / 2, N, p_bin)
        ax.bar(edges[:-1], hi - lo, bottom=lo, width=width, align="edge", color="0.85", lw=0,
               label=f"uniform ({prob:.0%})")
        ax.stairs(_counts(r.astype(np.int64), edges), edges, fill=True, alpha=0.6, color="C0", label="ranks")
        ax.hlines(N * p_bin, edges[:-1], edges[1:], color="0.4", lw=1)
        ax.set_xlim(0, M + 1)
        ax.set_title(f"{name} (p={sbc_uniformity_pvalue(r, M, bins):.2g})", fontsize=9)
        ax.set_xlabel("rank")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _finish(fig, path)

