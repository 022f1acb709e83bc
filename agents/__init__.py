"""stocklab.agents: tabular Q-learning / SARSA and Stable-Baselines3 agents.

torch and stable_baselines3 are imported only inside the modules that use them.
"""
