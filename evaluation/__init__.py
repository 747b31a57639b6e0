"""Offline evaluation: the steering, autoscaling, recommender and QoE-score evaluations, and the simulator
adapters they use. They may import any package; no product package imports them."""
