"""Tabular Q-learning and SARSA on one core: a Q-table over discretised states and allowed actions.

Each env step (s, a, r, s', a') updates, with a' the epsilon-greedy action taken next in s'::

    discounted:  Q(s,a) <- Q(s,a) + alpha_n [r + gamma T(s',a') - Q(s,a)]
    average:     Q(s,a) <- Q(s,a) + alpha_n delta,   delta = r - rho + T(s',a') - Q(s,a)
                 rho_update "greedy" (R-learning; Schwartz 1993, Sutton & Barto 1998 sec. 6.7):
                   when a is greedy in s after the update,
                   rho <- rho + beta [r - rho + max_b Q(s',b) - max_b Q(s,b)]
                 rho_update "td" (differential TD; Sutton & Barto 2018 sec. 10.3, Wan et al. 2021):
                   rho <- rho + beta delta   on every step

with T(s',a') = max_b Q(s',b) for Q-learning (Watkins 1989) and T(s',a') = Q(s',a') for SARSA
(Rummery & Niranjan 1994): the two agents differ only in :meth:`TabularAgent.target`. In the average
criterion rho estimates the long-run average reward (minus the average cost per period), the right
objective for inventory costs. R-learning's rho bootstraps on max_b Q(s',b), which overestimates
SARSA's on-policy values: with SARSA use ``rho_update: td`` (with R-learning its rho drifted upwards
and the policy with it on Zipkin's L = 2 instance).
alpha_n = n^-omega for the n-th update of (s, a). Rewards are money per period (- cost).

Actions are masked per state (:func:`allowed_actions`): no order that would lift the inventory position
above the cap of the discretiser, and in ``order_up_to`` mode no target below the inventory position
(all of those order nothing, like the target equal to it).

Randomness: ``SeedSequence(seed)`` child (0,) drives exploration; child (1, k) seeds training episode k.
Training runs in episodes of ``episode_periods`` periods; callbacks run after each episode, so a
checkpoint (table, counters, RNG state, episode count) resumes exactly where an uninterrupted run
would be.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, PositiveInt

from stocklab.agents.tabular.discretize import DiscretizerConfig, GridDiscretizer, build_discretizer
from stocklab.agents.tabular.persistence import load_table, save_table
from stocklab.agents.tabular.schedules import ALPHA_TABLE_SIZE, EpsilonSchedule, alpha_table
from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import PolicyError, did_you_mean
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.envs.core.schema import StrictModel, validate_section

if TYPE_CHECKING:  # the env (simpy, gymnasium) loads when training starts, not when a config is checked
    from stocklab.envs.inventory_env import InventoryEnv

Row = list[float]
Update = Callable[[int, int, float, int, int], None]


class TabularHyperparams(StrictModel):
    """The ``hyperparams`` of a tabular agent.

    * ``criterion``: ``average`` (long-run average reward, the inventory objective) or ``discounted``;
    * ``gamma``: discount factor per period (discounted criterion);
    * ``alpha_exponent``: omega of the step size alpha_n = n^-omega, in (0.5, 1];
    * ``rho_learning_rate``, ``rho_update``: step size beta and rule (``greedy`` = R-learning, ``td`` =
      differential TD) of the average-reward estimate rho (money per period);
    * ``q_init``: initial Q-value (money; 0 is optimistic as rewards are minus costs);
    * ``epsilon``: exploration schedule (:class:`EpsilonSchedule`);
    * ``discretizer``: state layout and caps (:class:`DiscretizerConfig`);
    * ``episode_periods``: periods per training episode (default: the env's ``periods``).
    """

    criterion: Literal["discounted", "average"] = "average"
    gamma: float = Field(default=0.99, gt=0.0, le=1.0)
    alpha_exponent: float = Field(default=0.85, gt=0.5, le=1.0)
    rho_learning_rate: float = Field(default=0.001, gt=0.0, le=1.0)
    rho_update: Literal["greedy", "td"] = "td"
    q_init: float = 0.0
    epsilon: EpsilonSchedule = Field(default_factory=EpsilonSchedule)
    discretizer: DiscretizerConfig = Field(default_factory=DiscretizerConfig)
    episode_periods: PositiveInt | None = None


def allowed_actions(
    discretizer: GridDiscretizer, action_map: ActionMap, n_actions: int, ip_cap: int
) -> list[list[int]]:
    """For every state, the env actions the agent may take (ascending; never empty).

    ``quantity``: orders 0 .. min(max_order, ip_cap - IP). ``order_up_to``: targets IP .. min(max_level,
    IP + max_order, ip_cap), or just the one that orders nothing when IP is already at or above the cap.
    IP is the state's (lower-end) inventory position in units.
    """
    out: list[list[int]] = []
    for ip in np.rint(discretizer.inventory_positions()).astype(int).tolist():
        if action_map.mode == "quantity":
            top = min(action_map.max_order, max(0, ip_cap - ip), n_actions - 1)
            out.append(list(range(top + 1)))
        else:
            lo = min(max(0, ip), n_actions - 1)
            hi = min(n_actions - 1, ip + action_map.max_order, max(ip_cap, lo))
            out.append(list(range(lo, max(lo, hi) + 1)))
    return out


class TabularAgent(Policy):
    """The shared core; use :class:`QLearning` or :class:`Sarsa`.

    ``act(obs)`` is the greedy action (ties: the smallest allowed action).
    """

    name = "tabular"
    algorithm: ClassVar[str] = "tabular"

    def __init__(
        self,
        env_config: EnvConfig | dict[str, Any],
        hyperparams: TabularHyperparams | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        config = parse_env_config(env_config)
        if config.action.mode not in ("quantity", "order_up_to"):  # pragma: no cover - schema guards
            raise PolicyError(f"unknown action mode {config.action.mode}")
        hp = hyperparams if isinstance(hyperparams, TabularHyperparams) else None
        if hp is None:
            hp = validate_section(TabularHyperparams, hyperparams or {}, prefix="hyperparams")
        super().__init__(ObsSpec.for_config(config), ActionMap.for_config(config))
        self.env_config = config
        self.hp = hp
        self.seed = int(seed)
        self.discretizer, self.ip_cap = build_discretizer(config, self.obs_spec, hp.discretizer)
        mode = config.action
        self.n_actions = (mode.max_level if mode.mode == "order_up_to" else config.max_order) + 1
        self.actions = allowed_actions(self.discretizer, self.action_map, self.n_actions, self.ip_cap)
        self.q: list[Row] = [[hp.q_init] * len(a) for a in self.actions]
        self.counts: list[list[int]] = [[0] * len(a) for a in self.actions]
        self._rho = [0.0]
        self.num_timesteps = 0
        self.episodes = 0
        self.epsilon = hp.epsilon
        self.episode_periods = hp.episode_periods or config.periods
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(0,))))
        self._encode = self.discretizer.encoder()
        self._env: InventoryEnv | None = None

    # ---------------------------------------------------------------- policy
    @staticmethod
    def target(row: Row, a: int) -> float:
        """T(s', a'): the value of the next state that the TD target bootstraps on."""
        raise NotImplementedError

    @property
    def rho(self) -> float:
        """Average-reward estimate (money per period; minus the average cost) of the average criterion."""
        return self._rho[0]

    def act(self, observation: np.ndarray) -> int:
        """The greedy allowed action of the observation's discrete state."""
        s = self._encode(np.asarray(observation, dtype=np.float32))
        row = self.q[s]
        return self.actions[s][row.index(max(row))]

    def greedy_actions(self) -> np.ndarray:
        """The greedy env action of every state, shape (n_states,) (what a table export holds)."""
        return np.array([a[r.index(max(r))] for a, r in zip(self.actions, self.q)], dtype=np.int64)

    def params(self) -> dict[str, Any]:
        """The algorithm, its hyper-parameters, exploration schedule, discretiser and training steps."""
        return {
            "algorithm": self.algorithm,
            **self.hp.model_dump(mode="json", exclude={"epsilon", "discretizer"}),
            "epsilon": self.epsilon.model_dump(mode="json"),
            "discretizer": repr(self.discretizer),
            "num_timesteps": self.num_timesteps,
        }

    @property
    def exportable(self) -> str | None:
        """``table``: the greedy action of every state exports as a table."""
        return "table"

    # -------------------------------------------------------------- learning
    def update(self, s: int, a: int, r: float, s_next: int, a_next: int) -> float:
        """One TD update of Q(s, slot a) for the transition (s, a, r, s', a'); returns the new value.

        ``a`` and ``a_next`` are slots in the allowed-action lists ``actions[s]``, ``actions[s_next]``.
        """
        self._updater()(s, a, r, s_next, a_next)
        return self.q[s][a]

    def _updater(self) -> Update:
        """The TD update as a closure over plain lists (the training loop's hot path)."""
        q, counts, target, rho = self.q, self.counts, self.target, self._rho
        alphas, omega, n_alpha = alpha_table(self.hp.alpha_exponent), self.hp.alpha_exponent, ALPHA_TABLE_SIZE
        gamma, beta = self.hp.gamma, self.hp.rho_learning_rate

        def discounted(s: int, a: int, r: float, s2: int, a2: int) -> None:
            cnt = counts[s]
            n = cnt[a] + 1
            cnt[a] = n
            row = q[s]
            row[a] += (alphas[n] if n < n_alpha else n**-omega) * (r + gamma * target(q[s2], a2) - row[a])

        def average(s: int, a: int, r: float, s2: int, a2: int) -> None:
            cnt = counts[s]
            n = cnt[a] + 1
            cnt[a] = n
            row, row2 = q[s], q[s2]
            row[a] += (alphas[n] if n < n_alpha else n**-omega) * (r - rho[0] + target(row2, a2) - row[a])
            best = max(row)
            if row[a] == best:
                rho[0] += beta * (r - rho[0] + max(row2) - best)

        def differential(s: int, a: int, r: float, s2: int, a2: int) -> None:
            cnt = counts[s]
            n = cnt[a] + 1
            cnt[a] = n
            row = q[s]
            delta = r - rho[0] + target(q[s2], a2) - row[a]
            row[a] += (alphas[n] if n < n_alpha else n**-omega) * delta
            rho[0] += beta * delta

        if self.hp.criterion == "discounted":
            return discounted
        return average if self.hp.rho_update == "greedy" else differential

    def episode_seed(self, k: int) -> int:
        """Seed of training episode ``k`` (child (1, k) of the agent's SeedSequence)."""
        return int(np.random.SeedSequence(self.seed, spawn_key=(1, k)).generate_state(1)[0])

    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        progress_bar: bool = False,
        reset_num_timesteps: bool = True,
    ) -> TabularAgent:
        """Train for ``total_timesteps`` more env steps (periods); SB3's ``learn`` signature.

        ``callback``: a :class:`~stocklab.agents.tabular.callbacks.TabularCallback`, a list of them, or None;
        called after every episode, training stops when one returns False. With
        ``reset_num_timesteps=False`` the step counter (and so the epsilon schedule) continues.
        """
        from stocklab.agents.tabular.callbacks import CallbackList, ProgressBarCallback

        if total_timesteps < 1:
            raise PolicyError(f"train.steps (={total_timesteps}) must be >= 1")
        if reset_num_timesteps:
            self.num_timesteps = 0
            self.epsilon = self.hp.epsilon
        self.epsilon = self.epsilon.resolved(total_timesteps)
        callbacks = list(callback) if isinstance(callback, list | tuple) else [callback] if callback else []
        if progress_bar:
            callbacks.append(ProgressBarCallback(total_timesteps))
        cb = CallbackList(callbacks)
        cb.init_callback(self)
        if self._env is None:
            from stocklab.envs.inventory_env import InventoryEnv

            self._env = InventoryEnv(self.env_config)
        end = self.num_timesteps + total_timesteps
        cb.on_training_start()
        update = self._updater()
        while self.num_timesteps < end:
            periods = min(self.episode_periods, end - self.num_timesteps)
            eps = self.epsilon.value(self.num_timesteps)
            self.num_timesteps += self._episode(
                self._env, self.episode_seed(self.episodes), periods, eps, update
            )
            self.episodes += 1
            if not cb.on_step():
                break
        cb.on_training_end()
        return self

    def _episode(self, env: InventoryEnv, seed: int, periods: int, eps: float, update: Update) -> int:
        """Run one training episode of at most ``periods`` steps; return the steps taken.

        Two uniforms per step, drawn up front: u[j] < eps explores, u[j + 1] picks the random action.
        """
        q, actions, encode, step = self.q, self.actions, self._encode, env.step
        u = self._rng.random(2 * periods + 2).tolist()
        obs, _ = env.reset(seed=seed)
        s = encode(obs)
        row = q[s]
        a = int(u[1] * len(row)) if u[0] < eps else row.index(max(row))
        j = 2
        for i in range(periods):
            obs, r, terminated, _, _ = step(actions[s][a])
            s2 = encode(obs)
            row = q[s2]
            a2 = int(u[j + 1] * len(row)) if u[j] < eps else row.index(max(row))
            j += 2
            update(s, a, r, s2, a2)
            s, a = s2, a2
            if terminated:
                return i + 1
        return periods

    # -------------------------------------------------------- snapshots, I/O
    def snapshot(self) -> tuple[list[Row], float]:
        """A copy of the Q-table and rho (e.g. the best policy seen during training)."""
        return [row[:] for row in self.q], self._rho[0]

    def restore(self, snap: tuple[list[Row], float]) -> None:
        """Put back a :meth:`snapshot` (in place)."""
        table, rho = snap
        for row, saved in zip(self.q, table):
            row[:] = saved
        self._rho[0] = rho

    def save(self, path: str | Path) -> Path:
        """Save table, counters and RNG state to directory ``path`` (see :mod:`stocklab.agents.tabular.persistence`)."""
        shape = (self.discretizer.n_states, self.n_actions)
        qd, cd, mask = np.full(shape, np.nan), np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=bool)
        for s, acts in enumerate(self.actions):
            qd[s, acts], cd[s, acts], mask[s, acts] = self.q[s], self.counts[s], True
        meta = {
            "algorithm": self.algorithm,
            "env_config": self.env_config.model_dump(mode="json", by_alias=True),
            "hyperparams": self.hp.model_dump(mode="json"),
            "seed": self.seed,
            "discretizer": self.discretizer.to_json(),
            "num_timesteps": self.num_timesteps,
            "episodes": self.episodes,
            "rho": self._rho[0],
            "epsilon": self.epsilon.model_dump(mode="json"),
            "rng_state": self._rng.bit_generator.state,
        }
        return save_table(path, {"q": qd, "counts": cd, "mask": mask}, meta)

    @classmethod
    def load(cls, path: str | Path) -> TabularAgent:
        """Load an agent saved by :meth:`save` (as the class it was saved from); resumable."""
        arrays, meta = load_table(path)
        algo = meta.get("algorithm")
        if algo not in TABULAR_AGENTS:
            raise PolicyError(f"{path}: unknown algorithm {algo!r}.{did_you_mean(str(algo), TABULAR_AGENTS)}")
        try:
            agent = TABULAR_AGENTS[algo](meta["env_config"], meta["hyperparams"], seed=meta["seed"])
            if agent.discretizer.to_json() != GridDiscretizer.from_json(meta["discretizer"]).to_json():
                raise PolicyError(f"{path}: discretizer does not match the one its config builds")
            if not np.array_equal(arrays["mask"], agent.mask()):
                raise PolicyError(f"{path}: action mask does not match the one its config builds")
            for s, acts in enumerate(agent.actions):
                agent.q[s] = [float(x) for x in arrays["q"][s, acts]]
                agent.counts[s] = [int(x) for x in arrays["counts"][s, acts]]
            agent._rho[0] = float(meta["rho"])
            agent.num_timesteps, agent.episodes = int(meta["num_timesteps"]), int(meta["episodes"])
            agent.epsilon = EpsilonSchedule.model_validate(meta["epsilon"])
            agent._rng.bit_generator.state = meta["rng_state"]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, PolicyError):
                raise
            raise PolicyError(f"{path}: malformed saved agent ({type(exc).__name__}: {exc})") from None
        return agent

    def mask(self) -> np.ndarray:
        """Boolean (n_states, n_actions): which env actions are allowed in which state."""
        mask = np.zeros((self.discretizer.n_states, self.n_actions), dtype=bool)
        for s, acts in enumerate(self.actions):
            mask[s, acts] = True
        return mask


class QLearning(TabularAgent):
    """Q-learning: bootstraps on the best next action, T(s', a') = max_b Q(s', b) (off-policy)."""

    name = "q_learning"
    algorithm = "q_learning"

    @staticmethod
    def target(row: Row, a: int) -> float:
        """Bootstrap target max_b Q(s', b) of the next state's row."""
        return max(row)


class Sarsa(TabularAgent):
    """SARSA: bootstraps on the next action actually taken, T(s', a') = Q(s', a') (on-policy)."""

    name = "sarsa"
    algorithm = "sarsa"

    @staticmethod
    def target(row: Row, a: int) -> float:
        """Bootstrap target Q(s', a') of the next action taken."""
        return row[a]


#: Tabular agents by config ``kind``.
TABULAR_AGENTS: dict[str, type[TabularAgent]] = {"q_learning": QLearning, "sarsa": Sarsa}
