"""Stable-Baselines3 agents: training, callbacks, and the trained network behind the Policy interface."""
