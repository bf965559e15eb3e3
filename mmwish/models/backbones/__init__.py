"""Backbone pretraining for the synthetic shapes (no registered backbone of its own)."""
