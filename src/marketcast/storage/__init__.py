"""Stage 5, storage: run artifacts and the forecast store."""
