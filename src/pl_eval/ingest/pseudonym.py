"""Pseudonymous student keys: a keyed hash of (DistrictName, StudentID).

IDs are unique only within a district, so the district is part of the key. pandas'
``hash_pandas_object`` with ``hash_key`` runs SipHash-2-4 (a keyed PRF) over each string in
C, so keys cannot be recomputed from an ID list without the secret, and the same secret gives
the same keys in every run and every stage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pl_eval.errors import ConfigError
from pl_eval.ingest.parse import categorical, group_ids

KEY_LENGTH = 16  # SipHash keys are 128 bits
_SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in an exported name or ID
#: The two hex characters of each byte value, as one uint16 per byte (memory order = text).
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)


def check_key(key: str) -> str:
    """``key`` if it is 16 printable ASCII characters, else a ConfigError saying so."""
    if len(key) != KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise ConfigError(
            "the pseudonymisation key (PL_EVAL_KEY or the key file) must be exactly "
            f"{KEY_LENGTH} printable ASCII characters"
        )
    return key


def student_keys(district: pd.Series, student_id: pd.Series, key: str) -> pd.Series:
    """16-hex-character key per row (categorical), hashing each distinct student once."""
    ids, (district_codes, student_codes) = group_ids(district, student_id)
    # each distinct student's district and ID, taken from the categories as Arrow text
    districts = categorical(district).cat.categories.astype("str").take(district_codes)
    students = categorical(student_id).cat.categories.astype("str").take(student_codes)
    text = pd.Series(districts) + _SEPARATOR + pd.Series(students)
    # one text per distinct student: pandas' default (categorize) first dictionary-encodes the
    # text to hash each distinct value once, here a second hashing of a million values for
    # nothing (0.5 of 0.7 CPU s on a national cohort); the keys are the same
    hashed = pd.util.hash_pandas_object(
        text, index=False, hash_key=check_key(key), categorize=False
    ).to_numpy()
    if not pd.Index(hashed).is_unique:  # ~1e-8 for a million students, but never merge two
        raise RuntimeError("two students received the same pseudonymous key; use another key")
    # distinct students' keys, in id order: category i is the key of student id i
    return pd.Series(
        pd.Categorical.from_codes(ids.astype(np.int32), _hex(hashed)),
        index=district.index,
        name="student_key",
    )


def _hex(values: np.ndarray) -> pd.Index:
    """uint64 -> 16 lower-case hex characters, vectorised (no per-value string formatting).

    The characters are laid out back to back and handed to Arrow as the data of a string
    array (offsets every 16 bytes): no Python or numpy string per value is ever made.
    """
    # each byte, most significant first, becomes its two characters from a 256-entry table
    chars = _HEX_PAIRS[values.astype(">u8").view(np.uint8)].view(np.uint8)
    offsets = np.arange(0, 16 * (len(values) + 1), 16, dtype=np.int32)
    text = pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(chars))
    return pd.Index(pd.array(text, dtype="str"))
