"""Lock-free single-producer/single-consumer rings of int64 records between Python and the
compiled audio callback.

A ring is two numpy arrays: `records` [capacity, WIDTH] and `index`, whose HEAD only the
producer writes and whose TAIL only the consumer writes (apart, on their own cache lines). Both
count up forever; a record lives at count % capacity. Several Python threads may share one
side of a ring through `Ring`'s lock; the compiled side never waits on anything.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from ganpad.app.native import fence

WIDTH = 5
HEAD, TAIL = 0, 8  # 64 bytes apart


def ring_arrays(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((capacity, WIDTH), np.int64), np.zeros(16, np.int64)


@njit(cache=True, nogil=True)
def push(records, index, a, b, c, d, e) -> bool:
    """Compiled producer: append one record; False (nothing written) if the ring is full."""
    head = index[HEAD]
    if head - index[TAIL] >= records.shape[0]:
        return False
    row = head % records.shape[0]
    records[row, 0] = a
    records[row, 1] = b
    records[row, 2] = c
    records[row, 3] = d
    records[row, 4] = e
    fence()  # the record before the count that publishes it
    index[HEAD] = head + 1
    return True


@njit(cache=True, nogil=True)
def waiting(index) -> int:
    """Records published and not yet taken."""
    return index[HEAD] - index[TAIL]


class Ring:
    """The Python side of one ring: `put` (producer) or `take_all` (consumer), never both."""

    def __init__(self, records: np.ndarray, index: np.ndarray):
        self.records, self.index = records, index
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self.records.shape[0]

    def put(self, a: int, b: int = 0, c: int = 0, d: int = 0, e: int = 0) -> bool:
        """Append one record; False if the ring is full. x86 keeps stores in order, and each
        numpy store is a C call the interpreter does not reorder."""
        with self._lock:
            head = int(self.index[HEAD])
            if head - int(self.index[TAIL]) >= self.capacity:
                return False
            self.records[head % self.capacity] = (a, b, c, d, e)
            self.index[HEAD] = head + 1
            return True

    def take_all(self) -> list[tuple[int, ...]]:
        """Every published record, oldest first, taken off the ring."""
        with self._lock:
            head, tail = int(self.index[HEAD]), int(self.index[TAIL])
            rows = [
                tuple(int(x) for x in self.records[i % self.capacity]) for i in range(tail, head)
            ]
            self.index[TAIL] = head
            return rows
