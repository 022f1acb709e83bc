"""Tabular Q-learning and SARSA: the agent, its discretiser, schedules, callbacks and persistence."""
