"""ETS at forecast time: going on from the run's fitted model against refitting it.

A nightly predict whose combination weights ETS forecasts each symbol after its last
row. It refitted AutoETS on the symbol's last 500 rows (all symbols in one statsforecast
call); it now filters on from the model the run fitted on the training rows, at that
model's parameters (``peers.continued_ets``), which is also what the run's own test
forecasts did. Both are timed here in one process, on S synthetic random-walk symbols of
Y years whose run trained on their first 70%, and the ratio printed; the two forecasts'
mean relative difference is printed too (they are different models, so not zero).

    python bench/predict_peers.py [--symbols 200] [--years 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from marketcast.evaluation import peers

HISTORY_ROWS = 500  # what predict refitted on (jobs.predict.HISTORY_ROWS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--years", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = args.years * 252
    series = [100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, rows))) for _ in range(args.symbols)]
    train_stop = int(rows * 0.7)
    saved = [
        peers.ets_state(peers.fit_peer("ets", s, train_stop), "2020-01-01") for s in series
    ]  # the runs' own fits: training, not predict
    peers.latest_peer_forecasts({"warm": series[0][-HISTORY_ROWS:]}, 5, models=("ets",))

    began = time.perf_counter()
    went_on = np.stack(
        [
            peers.continued_ets(state, s[train_stop:], np.array([rows - train_stop - 1]), 5)[0]
            for state, s in zip(saved, series, strict=True)
        ]
    )
    continued = time.perf_counter() - began
    began = time.perf_counter()
    histories = {str(i): s[-HISTORY_ROWS:] for i, s in enumerate(series)}
    refitted = peers.latest_peer_forecasts(histories, 5, models=("ets",))["ets"]
    refit = time.perf_counter() - began

    n = args.symbols
    print(f"{n} symbols x {rows} rows, trained on the first {train_stop}")
    for name, took in (("go on from the run's ETS", continued), ("refit on the last rows", refit)):
        print(f"  {name:<25} {took:6.2f} s  ({took / n * 1e3:.2f} ms a symbol)")
    print(f"  refit / go on: {refit / continued:.0f}x")
    differ = np.mean(np.abs(went_on / refitted - 1))
    print(f"  mean relative difference of the two forecasts: {differ:.2e}")


if __name__ == "__main__":
    main()
