"""Named random streams: every part of the demo draws from its own generator.

A stream is keyed by the seed, a name, and optional integers (a day's ordinal), so a part of the
demo does not change when another part draws more or fewer numbers, and a given day's rows are the
same whatever window they are generated in.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8")), *map(int, keys)])
