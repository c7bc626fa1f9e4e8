"""Experiment tracking (CSV, TensorBoard, MLflow loggers) and the Optuna hyperparameter search."""
