"""A tqdm bar as the (done, total) progress callback that long jobs take."""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm


def progress_callback(bar: tqdm) -> Callable[[int, int], None]:
    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return update
