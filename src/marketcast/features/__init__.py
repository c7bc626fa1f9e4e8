"""Stage 2, features: columns, chronological split, representation, scaling, windows (pure)."""
