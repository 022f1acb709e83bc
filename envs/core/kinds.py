"""Policy kinds: what a config's ``kind`` names, declared once by the package that implements it.

A :class:`PolicyKind` says everything the rest of stocklab needs to know about a kind: how it is
obtained (given or tuned, solved, trained), whether it can be tuned or trained, whether and how it
exports, which hyper-parameter model validates its ``hyperparams``, and how to check, build and reload
it. ``stocklab.baselines`` and ``stocklab.agents`` each declare their kinds in their ``registry``
module; the experiments layer gathers them into one :class:`KindRegistry` that config validation,
the runner, tuning, export and the report read. Adding a kind is one module that subclasses
:class:`PolicyKind`, plus its tests.

The types live in the lowest layer so that both implementing packages can use them without importing
each other or the experiments layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, NonNegativeInt, PositiveInt, field_validator

from stocklab.envs.core.errors import ConfigError, did_you_mean
from stocklab.envs.core.schema import StrictModel
from stocklab.envs.core.seeding import episode_seeds

if TYPE_CHECKING:
    from stocklab.envs.config import EnvConfig
    from stocklab.envs.core.policy import Policy

#: Names end up in file names (``runs/<name>/policies/<policy>/``): a letter or digit first, then
#: letters, digits, ``_``, ``.`` and ``-``, so that no name is ``.``, ``..`` or a hidden file.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"

_NAME_RULE = "a letter or digit, then letters, digits, '_', '.' or '-' (at most 100 characters)"


def check_name(value: str, what: str = "name") -> str:
    """``value`` when it is a safe file name (:data:`NAME_PATTERN`); else a ValueError saying the rule."""
    if not isinstance(value, str) or not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(f"{what} must be {_NAME_RULE}, so it can name a folder")
    return value


#: ``progress(done, total)``: report the progress of a build (total None: unknown yet).
Progress = Callable[[float, float | None], None]

#: How a kind's policy is obtained: taken as given or tuned, solved exactly, or trained.
Family = Literal["classic", "exact", "agent"]


class TrainBudget(StrictModel):
    """Training (agents) or tuning (classic policies) budget of one policy.

    ``steps``: environment steps of training (agents only). ``episodes`` x ``periods``: simulation
    budget per candidate of tuning by simulation (classic policies), or per evaluation of the policy
    during training (agents: every ``eval_every`` steps; the learning curve, the best policy is kept;
    training stops after ``patience`` evaluations without improvement). ``seconds``: a wall-time
    limit on training (agents only; training stops at ``steps`` or ``seconds``, whichever comes
    first; a run stopped by the clock is not reproducible step for step). ``seed``: base seed of
    training / tuning; by default derived from ``evaluation.seed`` and the policy name. Training and
    tuning never use the evaluation seeds.
    """

    steps: PositiveInt | None = None
    episodes: PositiveInt | None = None
    periods: PositiveInt | None = None
    eval_every: PositiveInt | None = None
    patience: PositiveInt | None = None
    seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    seed: NonNegativeInt | None = None


class PolicySpec(StrictModel):
    """One policy of an experiment: its name, its kind and what the kind needs to build it.

    ``params`` fixes a classic policy's parameters (empty: tuned); ``hyperparams`` go to the learning
    algorithm (e.g. ``n_envs``, ``learning_rate``); ``train`` is the training or tuning budget.
    """

    name: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    train: TrainBudget = Field(default_factory=TrainBudget)
    hyperparams: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value, "a policy name")


@dataclass
class BuildContext:
    """What a kind's :meth:`PolicyKind.build` gets: the env, the policy's entry, seeds, a folder."""

    env: EnvConfig
    spec: PolicySpec
    #: Base seed of training / tuning (never one of the evaluation seeds).
    seed: int
    #: Evaluation seeds, which training and tuning must not use.
    eval_seeds: frozenset[int]
    #: The policy's artefact folder (exists); everything :meth:`PolicyKind.load` needs goes here.
    workdir: Path
    #: ``progress(done, total)``: report training / tuning progress.
    progress: Progress = lambda done, total: None
    #: The DP optimum of the env when the run solved it (for kinds that reuse it).
    optimum: Any = None
    #: The run unit's hash (config, seed and code): the identity of resumable work kept in ``workdir``.
    unit_hash: str = ""

    def seeds(self, n: int) -> list[int]:
        """``n`` distinct 32-bit seeds derived from :attr:`seed`, none of them an evaluation seed."""
        out: list[int] = []
        for child in np.random.SeedSequence(self.seed).spawn(n + len(self.eval_seeds)):
            s = int(child.generate_state(1)[0])
            if s not in self.eval_seeds and s not in out:
                out.append(s)
            if len(out) == n:
                break
        return out

    def scenario_seed(self, episodes: int, base: int | None = None) -> int:
        """A base seed whose ``episodes`` episode seeds avoid every evaluation seed.

        Tuning and training-time evaluation score policies on ``episode_seeds(seed, episodes)``;
        starting from ``base`` (default :attr:`seed`) the first base whose episodes miss the
        evaluation scenarios is returned, so no policy is ever selected on the scenarios it is
        finally judged on.
        """
        seed = self.seed if base is None else base
        while set(episode_seeds(seed, episodes)) & self.eval_seeds:
            seed += 1
        return seed


@dataclass
class Built:
    """A built policy and what the run records about it."""

    policy: Policy
    #: Keyword parameters that rebuild the policy with :meth:`PolicyKind.rebuild` (JSON-ready).
    build_params: dict[str, Any] = field(default_factory=dict)
    #: How it was obtained: {"method": "given" | "default" | "tuned" | "trained" | "solved", ...}.
    info: dict[str, Any] = field(default_factory=dict)
    #: Learning-curve rows {"step": env steps, "value": cost per period, "metric": ...} (agents).
    curve: list[dict[str, Any]] | None = None


class PolicyKind:
    """The declaration of one policy kind; subclass it once per kind (or family of kinds).

    Class attributes declare what the kind is; the methods do the work. ``check`` runs when a config
    is validated (cheap: parameter names and values, whether the kind fits the env); ``build`` does
    the work of a run (tune, train or solve) and saves under ``ctx.workdir`` what ``load`` needs to
    rebuild the very same policy in another process, without pickle.
    """

    #: The name a config's ``kind`` uses.
    name: str = ""
    #: One line for listings and error messages.
    summary: str = ""
    family: Family = "classic"
    #: ``sku``: a policy for one stocking point; ``catalogue``: one policy for a whole catalogue.
    scope: str = "sku"
    #: Whether leaving ``params`` out makes a run tune the policy.
    tunable: bool = False
    #: Whether the kind learns from ``train.steps`` of experience.
    trainable: bool = False
    #: The artefact format of ``stocklab export`` (``params``, ``table``, ``dp_table``, ``onnx``), or
    #: None when the kind cannot be exported.
    export: str | None = None
    #: The pydantic model of ``hyperparams`` (None: the kind takes none, or validates them itself).
    hyperparams_model: type[BaseModel] | None = None
    #: Whether the kind reuses the run's DP optimum (the runner solves it first).
    uses_optimum: bool = False
    #: Build order of a run: lower first, so that long builds overlap with the many short ones.
    build_priority: int = 3

    @property
    def package(self) -> str:
        """The stocklab package that implements the kind (``stocklab.agents``, ...): its code identity."""
        return ".".join(type(self).__module__.split(".")[:2])

    def check(self, env: EnvConfig, spec: PolicySpec, deep: bool = False) -> None:
        """Raise a StocklabError when ``spec`` cannot be built for ``env``, before any work.

        ``deep`` adds checks that import heavy libraries (torch), which ``stocklab run`` runs first.
        """

    def build(self, ctx: BuildContext) -> Built:
        """Tune, train or solve the policy; save what :meth:`load` needs under ``ctx.workdir``."""
        raise NotImplementedError

    def load(self, ctx: BuildContext, record: dict[str, Any]) -> Policy:
        """Rebuild the policy that :meth:`build` saved (``record`` is the run's record of the build)."""
        return self.rebuild(ctx.env, record.get("build_params", {}))

    def rebuild(self, env: EnvConfig, params: dict[str, Any]) -> Policy:
        """The policy with parameters ``params`` (kinds that export as ``params``)."""
        raise NotImplementedError(f"{self.name} cannot be rebuilt from parameters")


class KindRegistry:
    """Policy kinds by name: the one list every layer above reads."""

    def __init__(self, kinds: list[PolicyKind] | tuple[PolicyKind, ...] = ()) -> None:
        self._kinds: dict[str, PolicyKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: PolicyKind) -> PolicyKind:
        """Add ``kind``; ValueError when its name is taken (kinds are declared once)."""
        if not kind.name:
            raise ValueError(f"{type(kind).__name__}: a policy kind needs a name")
        if kind.name in self._kinds:
            raise ValueError(f"policy kind '{kind.name}' is declared twice")
        self._kinds[kind.name] = kind
        return kind

    def unregister(self, name: str) -> None:
        """Remove kind ``name`` (tests that declare a kind of their own clean up with this)."""
        self._kinds.pop(name, None)

    def get(self, name: str) -> PolicyKind:
        """The kind called ``name``; ConfigError with a did-you-mean hint and the allowed names."""
        try:
            return self._kinds[name]
        except KeyError:
            raise ConfigError(
                f"unknown policy kind '{name}'.{did_you_mean(name, self._kinds)} Allowed: {', '.join(self._kinds)}"
            ) from None

    def names(self, family: Family | None = None) -> list[str]:
        """Names of every kind (of one ``family``), in declaration order."""
        return [n for n, k in self._kinds.items() if family is None or k.family == family]

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[PolicyKind]:
        return iter(list(self._kinds.values()))

    def check_spec(self, spec: PolicySpec) -> PolicyKind:
        """The kind of ``spec``, after checking that its sections fit the kind (ConfigError if not)."""
        kind = self.get(spec.kind)
        trainers = ", ".join(self.names("agent"))
        if kind.trainable and spec.params:
            raise ConfigError(
                f"'params' is for classic policies; {spec.kind} takes 'hyperparams' and 'train' "
                f"(got params {spec.params!r})"
            )
        if not kind.trainable:
            for key in ("steps", "eval_every", "patience", "seconds"):
                if getattr(spec.train, key) is not None:
                    raise ConfigError(f"train.{key} is for learning agents ({trainers}), not {spec.kind}")
            if spec.hyperparams and kind.hyperparams_model is None:
                raise ConfigError(f"'hyperparams' is for learning agents, not {spec.kind} (use 'params')")
        return kind
