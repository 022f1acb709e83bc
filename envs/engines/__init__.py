"""Simulation engines of stocking points behind one timing contract (see the package docstring of stocklab.envs)."""
