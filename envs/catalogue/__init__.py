"""Catalogues of SKUs: the ``catalogue`` config section, building a :class:`Catalogue`, its policies.

Modules: :mod:`.config` (the section's models, including :class:`SharedLimits`), :mod:`.build`
(:func:`build_catalogue`, :func:`load_catalogue`), :mod:`.catalogue` (the :class:`Catalogue`
dataclass), :mod:`.attributes` (the per-SKU table), :mod:`.sources` (history, splits, selection,
demand), :mod:`.segments` (Syntetos-Boylan classes and K-means clusters), :mod:`.policy` (the
catalogue policy interface). Import them directly; this package imports nothing at load time, so
that the engines can read :mod:`.config` cheaply.
"""
