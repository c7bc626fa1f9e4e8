"""A validated combination of forecasts, as shares of each component's move (pure).

Per step ``h`` the combined forecast is

    persistence + sum_i w_i * (component_i - persistence),   w_i >= 0,  sum_i w_i <= 1,

so all-zero weights are persistence itself, and a weight says how much of a
component's predicted move validation trusts. The weights minimise the
validation loss of relative errors ``(actual - forecast) / persistence``: in
relative terms every origin counts alike, where price units would let the
latest, highest-priced part of a trending validation segment dominate.
``loss="mae"`` solves the exact linear programme (HiGHS); ``loss="mse"`` the
constrained least squares (SLSQP). Each unit of weight must lower the
validation loss by ``min_gain`` (relative, 1e-4 = 0.01%) to be taken: a peer
that barely moves (AutoETS on log prices is close to persistence) otherwise gets
an arbitrary weight between 0 and 1 from a flat objective, and ``describe``
would report trust that validation never showed.

The forecast published moves ``(1 - shrink)`` of each fitted share
(``Weights.shrink``): the MAE programme's weights sit at a vertex (all of a
component's move or none), fitted on a few hundred rows. If the true share is
``w*`` and the loss is near quadratic in the weight, publishing half of a fitted
share of 1 keeps three quarters of the gain where ``w* = 1`` and turns a loss
into a gain wherever ``w* > 1/4``, where the whole share loses whenever
``w* < 1/2``: a share that validation's regime earned and the next regime takes
back costs a quarter of what it would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.optimize import linprog, minimize

from marketcast.errors import MarketcastError

LOSSES = ("mae", "mse")


@dataclass(frozen=True)
class Weights:
    """Fitted shares of each component's move: ``weights`` (H, C), columns in ``names``
    order, as validation chose them; the published forecast moves ``(1 - shrink)`` of
    each (``published``)."""

    names: tuple[str, ...]
    weights: np.ndarray  # (H, C)
    loss: str = "mae"
    shrink: float = 0.0  # the share of each fitted weight pulled back to persistence

    def __post_init__(self) -> None:
        if not 0 <= self.shrink <= 1:
            raise MarketcastError(f"combination shrink={self.shrink} must lie in [0, 1].")

    @property
    def published(self) -> np.ndarray:
        """(H, C) the shares of each component's move that the published forecast takes."""
        return self.weights * (1.0 - self.shrink)

    def shrunk(self, share: float) -> Weights:
        """These fitted weights, published at ``1 - share`` of each."""
        return replace(self, shrink=float(share))

    def apply(self, persistence: np.ndarray, components: dict[str, np.ndarray]) -> np.ndarray:
        """(B, H) combined forecast from persistence (B, H) and the named components (B, H)."""
        missing = [n for n in self.names if n not in components]
        if missing:
            raise MarketcastError(
                f"the combination needs components {missing}, fitted with {list(self.names)}; "
                "pass them all or refit the weights."
            )
        if persistence.shape[1] != self.weights.shape[0]:
            raise MarketcastError(
                f"weights were fitted for horizon {self.weights.shape[0]}, "
                f"got forecasts of horizon {persistence.shape[1]}."
            )
        out = persistence.astype(float, copy=True)
        for j, name in enumerate(self.names):
            w = self.published[:, j]  # -> (H,)
            if np.any(w):  # a zero weight must leave persistence bit for bit
                out = out + w[None, :] * (components[name] - persistence)
        return out

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "weights": self.weights.tolist(),
            "loss": self.loss,
            "shrink": self.shrink,
        }

    @classmethod
    def from_dict(cls, state: dict) -> Weights:
        weights = np.asarray(state["weights"], dtype=float).reshape(-1, len(state["names"]))
        # shrink 0: a run saved before it was kept published its fitted weights
        return cls(
            tuple(state["names"]), weights, state.get("loss", "mae"), state.get("shrink", 0.0)
        )

    def describe(self) -> str:
        """In words: 'validation gives ets 0.30 of its move, drift 0.00; step 2: ...;
        published: 50% of each share (shrink 0.5)' (with more steps than one, 'validation
        gives, step 1: ets 0.30 of its move, ...')."""
        steps = []
        for h, row in enumerate(self.weights):
            shares = [f"{n} {w:.2f}" for n, w in zip(self.names, row, strict=True)]
            if h == 0:
                shares[0] = f"{shares[0]} of its move"
            steps.append((f"step {h + 1}: " if len(self.weights) > 1 else "") + ", ".join(shares))
        steps[0] = ("validation gives, " if len(steps) > 1 else "validation gives ") + steps[0]
        text = "; ".join(steps)
        if not np.any(self.published):
            text += " (the combination is persistence)"
        elif self.shrink:
            text += f"; published: {1 - self.shrink:.0%} of each share (shrink {self.shrink:g})"
        return text


def fit_weights(
    actual: np.ndarray,
    persistence: np.ndarray,
    components: dict[str, np.ndarray],
    loss: str = "mae",
    min_gain: float = 1e-4,
) -> Weights:
    """Weights per step minimising the validation ``loss`` of the combined forecast.

    actual, persistence and every component: (B, H) prices on the same samples.
    """
    if loss not in LOSSES:
        raise MarketcastError(f"combination loss {loss!r} is not one of {LOSSES}.")
    if not components:
        raise MarketcastError("fit_weights needs at least one component besides persistence.")
    names = tuple(components)
    for name in names:
        if components[name].shape != actual.shape:
            raise MarketcastError(
                f"component {name} has shape {components[name].shape}, actual {actual.shape}."
            )
    target = (actual - persistence) / persistence  # -> (B, H) the move to explain
    moves = np.stack([(components[n] - persistence) / persistence for n in names], axis=-1)
    solve = _weights_mae if loss == "mae" else _weights_mse
    weights = np.stack(
        [solve(target[:, h], moves[:, h, :], min_gain) for h in range(actual.shape[1])]
    )
    weights[weights < 1e-9] = 0.0  # solver dust: a weight is either used or exactly zero
    return Weights(names, weights, loss)


def keep_earned(
    weights: Weights,
    actual: np.ndarray,
    persistence: np.ndarray,
    components: dict[str, np.ndarray],
    min_improvement: float,
    groups: np.ndarray | None = None,
) -> Weights:
    """``weights`` with every step zeroed (persistence) that has not earned its share.

    A step keeps its weights only where, on these rows (actual, persistence (B, H)), the
    combination's MAE is at least ``min_improvement`` below persistence's: a share fitted
    to noise would only add noise. And the whole path must earn it too: the kept steps'
    gains, summed, must reach ``min_improvement`` of persistence's summed MAE, so a lone
    step that clears the bar while its neighbours do not (more likely luck than a move the
    model can see) publishes persistence as well.

    ``groups`` (B,): the symbol of each row, for a global model's rows. Each symbol's
    errors are then measured against its own persistence MAE and the symbols averaged, so
    each counts alike: in price units a stock in won outweighs one in dollars a
    thousandfold, and would alone decide what every symbol publishes.
    """
    ours = np.abs(weights.apply(persistence, components) - actual)
    theirs = np.abs(persistence - actual)
    if groups is not None and len(np.unique(groups)) > 1:
        ours, theirs = _per_group_scaled(ours, theirs, np.asarray(groups))
    else:
        ours, theirs = ours.mean(axis=0), theirs.mean(axis=0)  # -> (H,)
    kept = weights.weights.copy()
    kept[ours > theirs * (1 - min_improvement)] = 0.0
    gain = np.where(kept.any(axis=1), theirs - ours, 0.0).sum()
    if gain < min_improvement * theirs.sum():
        kept[:] = 0.0
    return replace(weights, weights=kept)


def _per_group_scaled(
    ours: np.ndarray, theirs: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(H,) each group's mean absolute errors (B, H) over its persistence MAE (all steps),
    averaged over the groups: scale-free, each group weighing alike."""
    scaled = []
    for group in np.unique(groups):
        rows = groups == group
        own, reference = ours[rows].mean(axis=0), theirs[rows].mean(axis=0)
        scale = reference.mean()
        scaled.append((own / scale, reference / scale) if scale > 0 else (own * 0, reference * 0))
    return np.mean([s[0] for s in scaled], axis=0), np.mean([s[1] for s in scaled], axis=0)


def _weights_mae(y: np.ndarray, x: np.ndarray, min_gain: float) -> np.ndarray:
    """min_w sum |y - x w| + g sum w, w >= 0, sum w <= 1: an LP in [w (C), e+ (B), e- (B)]."""
    b, c = x.shape
    penalty = min_gain * np.abs(y).sum()  # g: min_gain of persistence's validation loss
    cost = np.concatenate([np.full(c, penalty), np.ones(2 * b)])
    eye = sparse.identity(b, format="csr")
    a_eq = sparse.hstack([sparse.csr_matrix(x), eye, -eye], format="csr")  # x w + e+ - e- = y
    a_ub = np.concatenate([np.ones(c), np.zeros(2 * b)])[None, :]
    result = linprog(
        cost, A_ub=a_ub, b_ub=[1.0], A_eq=a_eq, b_eq=y, bounds=(0, None), method="highs"
    )
    if not result.success:
        raise MarketcastError(f"the combination's linear programme failed: {result.message}")
    return result.x[:c]


def _weights_mse(y: np.ndarray, x: np.ndarray, min_gain: float) -> np.ndarray:
    """min_w mean (y - x w)^2 + g sum w, w >= 0, sum w <= 1 (SLSQP; convex, C variables)."""
    c = x.shape[1]
    scale = np.mean(y**2) or 1.0  # keeps the objective O(1) for the optimiser's tolerances
    result = minimize(
        lambda w: np.mean((y - x @ w) ** 2) / scale + min_gain * w.sum(),
        np.zeros(c),
        jac=lambda w: -2 * x.T @ (y - x @ w) / len(y) / scale + min_gain,
        bounds=[(0.0, 1.0)] * c,
        constraints=[
            {"type": "ineq", "fun": lambda w: 1.0 - w.sum(), "jac": lambda w: -np.ones(c)}
        ],
        method="SLSQP",
    )
    return np.clip(result.x, 0.0, 1.0)
