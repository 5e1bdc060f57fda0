"""Giving the memory a large import held back to the operating system once it is freed."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
import threading
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    """glibc, or None where there is none (another C library or system)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return libc


def release_freed_memory() -> bool:
    """Hand the pages free in every malloc arena back to the system (malloc_trim(0)).

    glibc keeps memory freed in a thread's arena for later use, so a worker that once held
    a large file stays that large; this is the cure. Returns whether anything was released
    (always False where malloc_trim does not exist).
    """
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def release_memory_later(delay_s: float = 1.0) -> threading.Timer:
    """In `delay_s`, from a thread of its own, free what reference cycles still hold and hand
    the freed pages back to the system.

    A request that failed leaves its frames in a cycle with its exception (the event loop's
    futures keep both), and they hold the uploaded body until the cycle collector runs,
    which in a worker that holds many objects may be long. The delay lets the request end
    first. The collection holds the interpreter for about a tenth of a second, so this is
    for the rare large upload, not for every request.
    """
    timer = threading.Timer(delay_s, _collect_and_release)
    timer.daemon = True
    timer.start()
    return timer


def _collect_and_release() -> None:
    gc.collect()
    release_freed_memory()
