"""Closed-form and exact results for periodic-review policies with backorders and discrete demand.

Pure functions of explicit parameters (demand pmf, lead time L in periods, holding cost h per unit per
period, shortage cost p per unit backordered per period, fixed order cost K). Costs follow the env's
timing: a period's holding and backorder costs are charged on the net inventory at its end, so an
order placed at t (arriving at t + L) first affects the cost of period t + L, whose net inventory is
the inventory position after ordering at t minus the demand of periods t .. t + L.
"""

from __future__ import annotations

import numpy as np

from stocklab.baselines.policies.planning import convolve_power, quantile_level


class OnePeriodCost:
    """Expected holding + shortage cost G(y) = h E[(y - D)^+] + p E[(D - y)^+] (money per period).

    The cost charged in period t + L when the inventory position after ordering at t is y (units); D is the
    demand over the L + 1 periods t .. t + L (Zheng & Federgruen 1991, eq. (1); Zipkin 2000, sec. 6.2).

    Uses E[(y - D)^+] = sum_{k=0}^{y-1} P(D <= k) and E[(D - y)^+] = E[(y - D)^+] - (y - E[D]).
    """

    def __init__(self, lead_time_pmf: np.ndarray, holding: float, shortage: float) -> None:
        pmf = np.asarray(lead_time_pmf, dtype=float)
        self.h, self.p = float(holding), float(shortage)
        self.mean = float(np.dot(np.arange(len(pmf)), pmf))
        self._cum_cdf = np.cumsum(np.cumsum(pmf))  # _cum_cdf[k] = sum_{i<=k} P(D <= i)
        self._n = len(pmf)

    def expected_excess(self, y: np.ndarray | int) -> np.ndarray:
        """E[(y - D)^+] (units) for integer y (vectorised)."""
        y = np.asarray(y, dtype=np.int64)
        inside = self._cum_cdf[np.clip(y - 1, 0, self._n - 1)]
        beyond = self._cum_cdf[-1] + (y - self._n)  # P(D <= k) = 1 for k >= n - 1
        return np.where(y <= 0, 0.0, np.where(y <= self._n, inside, beyond))

    def __call__(self, y: np.ndarray | int) -> np.ndarray:
        """G(y) (money per period) at inventory position(s) ``y`` after ordering (units)."""
        excess = self.expected_excess(y)
        return (self.h + self.p) * excess - self.p * (np.asarray(y, dtype=float) - self.mean)


def fractile_base_stock(period_pmf: np.ndarray, lead_time: int, holding: float, shortage: float) -> int:
    """Optimal base-stock level under backorders: the smallest S with P(D_{L+1} <= S) >= p / (p + h).

    D_{L+1} is the demand over L + 1 periods (Zipkin 2000, sec. 6.2.2; Axsäter 2015, sec. 5.3).

    >>> fractile_base_stock(np.array([0.5, 0.5]), 0, holding=1.0, shortage=1.0)
    0
    >>> fractile_base_stock(np.array([0.25, 0.25, 0.25, 0.25]), 0, holding=1.0, shortage=3.0)
    2
    """
    pmf = convolve_power(np.asarray(period_pmf, dtype=float), lead_time + 1)
    return quantile_level(pmf, shortage / (shortage + holding))


class RenewalCost:
    """The long-run average cost c(s, S) of an (s, S) policy, s < S (money per period).

    c(s, S) = [K + sum_{j=0}^{S-s-1} m(j) G(S - j)] / M(S - s)   (Zheng & Federgruen 1991, eq. (2)),

    with m the renewal mass function of the per-period demand (m(j) = expected number of periods in
    which the cumulative demand since the last order equals j: m(0) = 1 / (1 - p_0) and
    m(j) = sum_{l=1}^{j} p_l m(j - l) / (1 - p_0)), M(n) = sum_{j<n} m(j) the expected cycle length
    and G the :class:`OnePeriodCost` over the lead-time demand.
    """

    def __init__(
        self, period_pmf: np.ndarray, lead_time: int, holding: float, shortage: float, fixed_cost: float
    ):
        pmf = np.asarray(period_pmf, dtype=float)
        if pmf[0] >= 1.0:
            raise ValueError("demand is always 0: every (s, S) policy costs the same")
        self.pmf = pmf
        self.K = float(fixed_cost)
        self.G = OnePeriodCost(convolve_power(pmf, lead_time + 1), holding, shortage)
        self._m = np.empty(0)
        self._M = np.zeros(1)

    def renewal(self, n: int) -> np.ndarray:
        """m(0), ..., m(n - 1)."""
        if len(self._m) < n:
            size = max(n, 2 * len(self._m), 64)
            m = np.empty(size)
            m[: len(self._m)] = self._m
            tail = self.pmf[1:]
            for j in range(len(self._m), size):
                if j == 0:
                    m[0] = 1.0 / (1.0 - self.pmf[0])
                    continue
                k = min(j, len(tail))  # sum_{l=1}^{min(j, D)} p_l m(j - l)
                m[j] = np.dot(tail[:k], m[j - 1 :: -1][:k]) / (1.0 - self.pmf[0])
            self._m = m
            self._M = np.concatenate([[0.0], np.cumsum(m)])
        return self._m[:n]

    def __call__(self, s: int, S: int) -> float:  # noqa: N803
        """Average cost c(s, S) per period of the (s, S) policy (money per period)."""
        n = S - s
        m = self.renewal(n)
        return float((self.K + np.dot(m, self.G(S - np.arange(n)))) / self._M[n])


def zheng_federgruen(
    period_pmf: np.ndarray, lead_time: int, holding: float, shortage: float, fixed_cost: float
) -> tuple[int, int, float]:
    """The optimal (s, S) policy and its long-run average cost (s, S in units; cost per period).

    Zheng & Federgruen (1991), "Finding optimal (s, S) policies is about as simple as evaluating a
    single policy", Operations Research 39(4), 654-665: with y* a minimiser of G,

    0. s = y*, S0 = y*; decrease s until c(s, S0) <= G(s); c0 = c(s, S0); S = S0 + 1.
    1. while G(S) <= c0: if c(s, S) < c0, set S0 = S and increase s while c(s, S0) <= G(s + 1),
       then c0 = c(s, S0); S = S + 1.

    Orders are uncapped, lead time fixed, unmet demand backordered.

    >>> from scipy import stats
    >>> s, S, c = zheng_federgruen(stats.poisson(10).pmf(range(60)), 0, 1.0, 9.0, 64.0)
    >>> (s, S, round(c, 3))
    (6, 40, 35.022)
    """
    cost = RenewalCost(period_pmf, lead_time, holding, shortage, fixed_cost)
    G = cost.G
    top = int(np.ceil(G.mean)) + len(period_pmf) * (lead_time + 1) + 1
    grid = np.arange(-1, top + 1)
    y_star = int(grid[np.argmin(G(grid))])
    s, S0 = y_star, y_star
    while True:  # G(s) grows linearly as s falls while c(s, S0) stays bounded, so this ends
        s -= 1
        if cost(s, S0) <= G(s):
            break
    c0 = cost(s, S0)
    S = S0 + 1
    while G(S) <= c0:
        if cost(s, S) < c0:
            S0 = S
            while cost(s, S0) <= G(s + 1):
                s += 1
            c0 = cost(s, S0)
        S += 1
    return s, S0, c0
