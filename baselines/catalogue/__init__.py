"""Catalogue policies and the catalogue's lower bound (issue 12).

:mod:`.bound` (the Lagrangian lower bound, :func:`~stocklab.baselines.catalogue.bound.lagrangian_bound`),
:mod:`.priced` (one SKU's DP optimum under prices on the shared limits). Import the modules directly.
"""
