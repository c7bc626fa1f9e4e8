"""Stage 4, evaluation: baselines, peers, intervals, metrics, reports and plots."""
