"""stocklab.experiments: configs, the runner, evaluation, KPIs, reports, export and the CLI.

Composes every other stocklab package; nothing imports it but the CLI.
"""
