"""Learned catalogue policies: one shared PPO network for every SKU (:mod:`.shared_ppo`).

Modules: :mod:`.network` (the exportable NumPy form of a shared network), :mod:`.shared_ppo`
(training on some SKUs, :class:`~.shared_ppo.SharedPPOPolicy`), :mod:`.evaluate` (per-SKU costs,
train vs held-out report). Import them directly; torch is imported only by training.
"""
