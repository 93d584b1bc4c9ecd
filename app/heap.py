"""Give freed heap memory back to the system.

glibc keeps what a process frees in its heaps for reuse. ONNX Runtime's session start (it folds
the graph's tables) and each generation run free hundreds of MB that the instrument then holds
for as long as it runs: about 300 MB after the 44.1 kHz drums' session start here.
"""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def _malloc_trim():
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only
    except OSError:
        return None


def trim_heap() -> bool:
    """Return the heaps' free pages to the system (glibc's malloc_trim); False where the C
    library has no such call. ctypes releases the GIL around it: the audio thread never waits."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
