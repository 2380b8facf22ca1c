"""aetasc: a replication of Parikh et al. (Interspeech 2022), acoustic event tagging as an
auxiliary task for acoustic scene classification.

Subpackages, in the order data flows (each imports only from those above it):
data (the data sets' layouts, the generated world, the real sources), features (decoding,
log-mel, the feature tables), training (what determines a run's numbers, and the run
store), events (the tagger's ranking, CNN14, the AET subsets), experiments (the figures'
grids, their runs and aggregates), planning (the data plan and the cost model) and
analysis (statistics, the claims report, summary and plots; reads metrics only).
"""
__version__ = "0.1.0"      # pyproject.toml's version (tests/test_house.py checks)
