"""Faust stream processing: the raw-event sink, the sessionizer and the QoE score."""
