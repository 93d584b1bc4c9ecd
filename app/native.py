"""What compiled (numba) real-time code needs from outside Python: typed pointers, fences, libc.

The audio callbacks are numba `cfunc`s over numpy-owned state. A C library calls them with one
`void *` argument: the address of an int64 table of array addresses and sizes (`table` in
`voice_pool` and `mixer`), which `from_table` turns back into arrays inside compiled code.
Nothing here takes the GIL.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import llvmlite.binding as llvm
from numba import njit, types
from numba.extending import intrinsic

CLOCK_MONOTONIC = 1

_loaded: set[str] = set()


def load_symbols(library: str, fallback: str) -> None:
    """Make a C library's symbols callable from compiled code (`types.ExternalFunction`)."""
    if library in _loaded:
        return
    path = ctypes.util.find_library(library) or fallback
    llvm.load_library_permanently(path)  # dlopen: the library the process already has, if any
    _loaded.add(library)


load_symbols("c", "libc.so.6")
clock_gettime = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.voidptr))
c_write = types.ExternalFunction("write", types.int64(types.int32, types.voidptr, types.uint64))


def _pointer_cast(dtype):
    """An intrinsic: an address (int64) or a void pointer as a typed pointer to `dtype`."""

    @intrinsic
    def cast(typingctx, address):
        sig = types.CPointer(dtype)(address)

        def codegen(context, builder, signature, args):
            target = context.get_value_type(signature.return_type)
            if isinstance(signature.args[0], types.Integer):
                return builder.inttoptr(args[0], target)
            return builder.bitcast(args[0], target)

        return sig, codegen

    return cast


as_f32 = _pointer_cast(types.float32)
as_i64 = _pointer_cast(types.int64)
as_f64 = _pointer_cast(types.float64)
as_i32 = _pointer_cast(types.int32)
as_u8 = _pointer_cast(types.uint8)
as_bool = _pointer_cast(types.boolean)


@intrinsic
def as_void(typingctx, address):
    """An address (int64) as `void *`, for a C call."""
    sig = types.voidptr(address)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return sig, codegen


@intrinsic
def fence(typingctx):
    """A full memory fence: what another thread published before it is seen after it, and
    what is written before it is published before what follows (a compiler barrier too)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def memory_fence() -> None:
    """`fence` for Python: between a store and a load that another thread orders the other way."""
    fence()
