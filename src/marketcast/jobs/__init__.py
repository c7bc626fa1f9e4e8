"""Stage 6, jobs: training, backtests, forecasting, fetching, sweeps; the only readers of the
whole config."""
