"""qoe_sim."""
