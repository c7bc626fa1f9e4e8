"""Per-column affine scaling fitted with scikit-learn, kept as plain JSON state.

``scaled = (value - offset) / scale`` for each column. scikit-learn fits the
parameters on the training segment; the state is two lists of floats, so a
saved run loads without unpickling anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

from marketcast.errors import MarketcastError

SCALERS = ("minmax", "standard")


@dataclass(frozen=True)
class Scaler:
    method: str
    columns: list[str]
    offset: list[float]
    scale: list[float]

    @classmethod
    def fit(
        cls, values: np.ndarray, columns: list[str], method: str, center: bool = True
    ) -> Scaler:
        """Fit on ``values`` (N, C), the training rows of ``columns``.

        ``center=False`` only scales (offset 0), so that zero stays zero: minmax
        then divides by the largest absolute value (scikit-learn's MaxAbsScaler).
        """
        if method == "minmax" and center:
            fitted = MinMaxScaler().fit(values)
            offset, scale = fitted.data_min_, fitted.data_range_
        elif method == "minmax":
            fitted = MaxAbsScaler().fit(values)
            offset, scale = np.zeros(values.shape[1]), fitted.scale_
        elif method == "standard":
            fitted = StandardScaler(with_mean=center).fit(values)
            offset = fitted.mean_ if center else np.zeros(values.shape[1])
            scale = fitted.scale_
        else:
            raise MarketcastError(
                f"features.scaler={method!r} is not known: use one of {', '.join(SCALERS)}."
            )
        # A constant training column would divide by zero: leave it unscaled around its offset.
        scale = np.where(scale > 0, scale, 1.0)
        return cls(method, list(columns), offset.astype(float).tolist(), scale.tolist())

    def transform(self, values: np.ndarray, columns: list[str] | None = None) -> np.ndarray:
        """Scale ``values`` (..., C) whose last axis holds ``columns`` (default: all)."""
        offset, scale = self._params(columns)
        return (values - offset) / scale

    def inverse(self, values: np.ndarray, column: str) -> np.ndarray:
        """Undo the scaling of one column; any shape."""
        offset, scale = self._params([column])
        return values * scale[0] + offset[0]

    def _params(self, columns: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        idx = [self.columns.index(c) for c in (columns or self.columns)]
        return np.asarray(self.offset)[idx], np.asarray(self.scale)[idx]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> Scaler:
        return cls(
            state["method"], list(state["columns"]), list(state["offset"]), list(state["scale"])
        )
