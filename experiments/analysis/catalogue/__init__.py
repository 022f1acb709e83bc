"""Catalogue KPIs, plots and report, from a catalogue run's tables."""
