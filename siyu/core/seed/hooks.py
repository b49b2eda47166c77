"""Seed steps other apps add to the demo data (channel accounts, catalog, orders) without editing the generator.

An app registers a step from its AppConfig.ready (or its own seed module imported there):

    from siyu.core.seed.hooks import register_seed_step
    register_seed_step("catalog.products", seed_products)

A step gets the new enterprise's id, a numpy Generator seeded from the run's seed and the step's name (so adding a
step never changes another step's data), and the run's progress reporter. Steps run in registration order, after the
customers and the event log are written.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from siyu.core.seed.progress import Progress

SeedStep = Callable[[int, np.random.Generator, Progress], None]

_STEPS: dict[str, SeedStep] = {}


def register_seed_step(name: str, step: SeedStep) -> None:
    existing = _STEPS.get(name)
    if existing is not None and existing is not step:
        raise ValueError(f"seed step {name!r} is already registered")
    _STEPS[name] = step


def unregister_seed_step(name: str) -> None:
    _STEPS.pop(name, None)


def seed_steps() -> list[tuple[str, SeedStep]]:
    return list(_STEPS.items())


def step_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def run_seed_steps(*, enterprise_id: int, seed: int, progress: Progress) -> list[str]:
    ran = []
    for name, step in seed_steps():
        progress.note(f"seed step {name}")
        step(enterprise_id, step_rng(seed, name), progress)
        ran.append(name)
    return ran
