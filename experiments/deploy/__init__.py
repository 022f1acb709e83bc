"""Deployment: the sealed policy artefact, export, the torch-free runtime and the decision service."""
