"""Recommendations: popularity, item-kNN and EASE on weighted implicit feedback.

- :mod:`recommender.models`: the models (``fit`` / ``score`` / ``recommend``) and ``ModelConfig``.
- :mod:`recommender.trained`: a fitted model with its item ids; ``recommend_for_history``.
- :mod:`recommender.store`: save / load, and ``swap_in`` for an atomic change of the current model.
- :mod:`recommender.selection`: picks the production model by validation on training data.
- :mod:`evaluation.recommender.offline`: the offline protocol behind ``qoe recommender evaluate``.
- :mod:`recommender.movielens`: MovieLens loaders (bundled ml-latest-small, GroupLens licence:
  research use, cite Harper & Konstan 2015, see ``movielens.CITATION``).
"""
