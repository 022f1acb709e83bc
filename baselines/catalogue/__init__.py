"""Catalogue policies and the catalogue's lower bound (issue 12).

:mod:`.kinds` (the catalogue policy kinds, ``scope = "catalogue"``: ``per_sku``, ``newsvendor``,
``lagrangian``), :mod:`.per_sku` (one classic policy per SKU, tuned per SKU), :mod:`.rules` (their
orders as array arithmetic), :mod:`.coordinator` and :mod:`.fit` (the Lagrangian coordinator),
:mod:`.levels` (base-stock candidates of every SKU simulated in one batch), :mod:`.simulate` (a
catalogue policy on the batched engine), :mod:`.training` (the catalogue policies are tuned on),
:mod:`.bound` (the Lagrangian lower bound) and :mod:`.priced` (one SKU's DP optimum under prices on
the shared limits). Import the modules directly.
"""
