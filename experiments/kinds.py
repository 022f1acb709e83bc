"""The one registry of policy kinds: every kind that stocklab.baselines and stocklab.agents declare.

Config validation, the runner, tuning, export and the report read :data:`REGISTRY`; a kind is
declared once, in the package that implements it (``stocklab.baselines.registry``,
``stocklab.agents.registry``).
"""

from __future__ import annotations

from stocklab.agents.registry import KINDS as AGENT_KINDS
from stocklab.baselines.registry import KINDS as BASELINE_KINDS
from stocklab.envs.core.kinds import KindRegistry

REGISTRY = KindRegistry([*AGENT_KINDS, *BASELINE_KINDS])
