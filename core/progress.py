"""A tqdm bar as the (done, total) progress callback that long jobs take."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


class LazyBar:
    """The (done, total) callback; the bar is drawn at the first finished unit of work, so
    an error found before any work prints alone, with no empty bar above it."""

    def __init__(self, **options: Any):
        self.options = options
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, **self.options)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
