"""The data stage: load, validate, score, deduplicate, scrub, split and version training data."""
