"""Tuning classic policies: closed forms where theory allows, else a search simulated on common random numbers."""
