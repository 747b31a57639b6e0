"""Recommender evaluation: offline on MovieLens, online on the simulated audience."""
