"""Ketimpangan: the rules (`rules/`: the catalogue and each rule's SQL), their thresholds
(`thresholds.py`), and the engine that runs them in full or after each sync on what changed
(`engine.py`). The API reads the catalogue (codes, severities) and never the engine."""
