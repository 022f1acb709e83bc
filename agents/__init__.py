"""stocklab.agents: tabular Q-learning / SARSA and Stable-Baselines3 agents.

torch and stable_baselines3 are imported only inside the modules that use them.

Modules:

* ``tabular``: Q-learning and SARSA on one core (discounted or average reward), ``allowed_actions``;
* ``discretize``: observation -> state index (exact integer states, or buckets), caps by default;
* ``schedules``: epsilon schedules and the step size alpha_n = n^-omega;
* ``callbacks``: SB3-style callbacks of tabular training (evaluation on fixed seeds, early stopping,
  checkpoints, time limit, progress bar);
* ``persistence``: npz + JSON files of tabular agents (no pickle);
* ``throughput``: env-limited and loop-limited cost of a tabular training step;
* ``sb3_agent``, ``sb3_callbacks``, ``sb3_policy``: SB3 algorithms by name, their callbacks, and the
  deterministic ``SB3Policy`` with VecNormalize statistics applied;
* ``factory``: ``train_agent`` / ``save_policy`` / ``load_policy`` by config ``kind``.
"""
