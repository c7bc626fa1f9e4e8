"""marketcast: Hydra-driven LSTM forecasting of daily stock prices."""

from marketcast.errors import MarketcastError

__all__ = ["MarketcastError"]
__version__ = "0.1.0"
