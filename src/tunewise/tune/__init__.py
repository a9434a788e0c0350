"""Hyperparameter search for the local trainer (`tunewise tune`, `run.tune: true`)."""
