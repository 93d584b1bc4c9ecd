"""Evaluation: the drum classifier, metrics, baselines and signal checks behind `ganpad eval`."""
