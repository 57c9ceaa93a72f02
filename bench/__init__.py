"""Benchmarks: speed, memory and scores against peers; each writes bench/results/<name>.json and .md.

Run one as a module from the repository root, e.g. `python -m bench.algos_speed`.
"""
