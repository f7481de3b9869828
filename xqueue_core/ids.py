"""Sortable unique task ids (ULID layout: 48-bit milliseconds + 80 random bits)."""

from __future__ import annotations

import base64
import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters
# RFC 4648 base32 (C speed) mapped onto the Crockford alphabet
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())
_prefix = ""  # the encoded time part of _last_ms


def _encode(value: int, length: int) -> str:
    """``value`` in ``length`` (even) base32 characters, most significant first."""
    out = [_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)]
    return "".join(out)


def _encode80(value: int) -> str:
    """An 80-bit value as 16 base32 characters (80 bits fill them exactly)."""
    return base64.b32encode(value.to_bytes(10, "big")).translate(_FROM_RFC4648).decode()


def new_id() -> str:
    """Return a 26-character id that sorts by creation time.

    Within one millisecond the random part is incremented, so ids made by one
    process are strictly increasing (monotonic ULID).
    """
    global _last_ms, _last_rand, _prefix
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last_ms:
            _last_rand = (_last_rand + 1) & ((1 << 80) - 1)
        else:
            _last_ms = ms
            _prefix = _encode(ms, 10)
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        return _prefix + _encode80(_last_rand)


def is_valid_id(value: str) -> bool:
    """Tell whether ``value`` has the shape of an id made by :func:`new_id`."""
    return len(value) == 26 and all(c in _ALPHABET for c in value)
