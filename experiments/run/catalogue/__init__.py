"""Catalogue runs: every catalogue policy of a config built and evaluated on one batch of SKUs."""
