"""Per-slot latent control: fresh variations, a locked seed, or a morph between two seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FRESH = -1  # seed value of a slot that rolls a new latent for every variation


def latent_for_seed(seed: int, size: int) -> np.ndarray:
    """The latent a seed stands for (a kit file also stores the vector itself)."""
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: keeps a Gaussian latent's norm where a straight line would not."""
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(
        np.float32
    )


@dataclass
class SlotLatent:
    seed: int = FRESH
    morph_to: int = FRESH  # with seed: morph from seed to morph_to by amount
    amount: float = 0.0

    @property
    def locked(self) -> bool:
        return self.seed != FRESH


class LatentBank:
    def __init__(self, slots: int, size: int, seed: int | None = None):
        self.size = size
        self.slots = [SlotLatent() for _ in range(slots)]
        self.rng = np.random.default_rng(seed)
        # Slots that play given latents in turn (a rendered kit's round robins), with the
        # index of the next one.
        self.cycles: dict[int, tuple[list[tuple[np.ndarray, int]], list[int]]] = {}
        self.program = 0  # the instrument every slot's latents play (a preset's program index)

    def new_seed(self) -> int:
        return int(self.rng.integers(0, 2**31 - 1))

    def draw(self, slot: int) -> tuple[np.ndarray, int]:
        """(latent, seed) for the next variation of a slot."""
        if slot in self.cycles:
            sounds, turn = self.cycles[slot]
            z, seed = sounds[turn[0] % len(sounds)]
            turn[0] += 1
            return z, seed
        state = self.slots[slot]
        if not state.locked:
            seed = self.new_seed()
            return latent_for_seed(seed, self.size), seed
        return self.locked_latent(state), state.seed

    def locked_latent(self, state: SlotLatent) -> np.ndarray:
        """The latent a locked slot plays: its seed's, or the morph between two seeds."""
        z = latent_for_seed(state.seed, self.size)
        if state.morph_to != FRESH and state.amount > 0:
            z = slerp(z, latent_for_seed(state.morph_to, self.size), state.amount)
        return z

    def fixed(self, slot: int) -> bool:
        """Every draw of the slot is one latent (locked or morphed, not cycling)."""
        return self.slots[slot].locked and slot not in self.cycles

    def current(self, slot: int) -> tuple[np.ndarray, int] | None:
        """(latent, seed) a locked slot plays, drawing nothing; None for a slot that rolls
        fresh sounds or cycles. A morph's seed stands for the pair and the amount."""
        state = self.slots[slot]
        if slot in self.cycles or not state.locked:
            return None
        if state.morph_to == FRESH or state.amount <= 0:
            return self.locked_latent(state), state.seed
        words = [state.seed, state.morph_to, round(state.amount * 1000)]
        return self.locked_latent(state), int(
            np.random.SeedSequence(words).generate_state(1)[0] >> 1
        )

    def cycle(self, slot: int, sounds: list[tuple[np.ndarray, int]]) -> None:
        """Play these (latent, seed) pairs in turn on the slot, as a sampler's round robins."""
        if not sounds:
            raise ValueError(f"slot {slot}: no sounds to cycle through")
        self.cycles[slot] = (list(sounds), [0])

    def lock(self, slot: int, seed: int) -> None:
        self.cycles.pop(slot, None)
        self.slots[slot] = SlotLatent(seed)

    def unlock(self, slot: int) -> None:
        self.cycles.pop(slot, None)
        self.slots[slot] = SlotLatent()

    def lock_all(self, seed: int) -> None:
        """Every slot one sound: a notes preset's timbre on every key."""
        for slot in range(len(self.slots)):
            self.lock(slot, seed)

    def morph(self, slot: int, seed_a: int, seed_b: int, amount: float) -> None:
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"morph amount {amount} is not within 0..1")
        self.cycles.pop(slot, None)
        self.slots[slot] = SlotLatent(seed_a, seed_b, float(amount))

    def to_json(self) -> list[dict]:
        return [asdict(s) for s in self.slots]

    def load_json(self, rows: list[dict]) -> None:
        if not isinstance(rows, list) or len(rows) != len(self.slots):
            raise ValueError(f"kit needs a list of {len(self.slots)} slots")
        slots = [SlotLatent(int(r["seed"]), int(r["morph_to"]), float(r["amount"])) for r in rows]
        for i, s in enumerate(slots):
            if not (FRESH <= s.seed < 2**63 and FRESH <= s.morph_to < 2**63):
                raise ValueError(f"slot {i}: seeds must be -1 (fresh) or 0 and above")
            if not 0.0 <= s.amount <= 1.0:
                raise ValueError(f"slot {i}: morph amount {s.amount} is not within 0..1")
        self.slots = slots
