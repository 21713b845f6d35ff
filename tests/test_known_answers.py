"""The committed known-answer table (tests/known_answers.py) against the published eSTREAM
vectors and the independent SPEC model (tests/spec_model.py), then the reference model, the
reference backend and the fused float path against the table. The other backends are checked
against the same table in tests/test_host_backends.py, the CLI in tests/test_cli.py."""

from __future__ import annotations

import numpy as np
import pytest

from dynamarks.host.alter_float import alter_float
from dynamarks.host.driver import open_backend
from dynamarks.host.fixedpoint import check_rows, to_fixed, to_float
from dynamarks.host.reference import ReferenceUnit
from tests import known_answers as kat
from tests import spec_model

# Published keystream prefixes (trivium-80.80.test-vectors): Set 1 #0 and Set 6 #0.
ESTREAM = [
    ("80000000000000000000", "00000000000000000000",
     "38EB86FF730D7A9CAF8DF13A4420540DBB7B651464C87501552041C249F29A64"),
    ("0053A6F94C9FF24598EB", "0D74DB42A91077DE45AC",
     "F4CD954A717F26A7D6930830C4E7CF0819F80E03F25F342C64ADC66ABA7F8A8E"),
]


@pytest.mark.parametrize("key, iv, stream", ESTREAM)
def test_spec_model_trivium_matches_estream(key: str, iv: str, stream: str) -> None:
    got = spec_model.keystream_bytes(bytes.fromhex(key), bytes.fromhex(iv), len(stream) // 2)
    assert got.hex().upper() == stream


def test_table_rederived_by_the_spec_model() -> None:
    f = kat.PARAMS_FIELDS
    fields = dict(one=1 << (kat.W - 1), alpha=f["alpha"], beta=f["beta"], a=f["a"], b=f["b"],
                  c=f["thresholds"])
    words = spec_model.keystream_words(kat.KEY, kat.IV, len(kat.VECTORS))
    assert tuple(words[:3]) == kat.FIRST_WORDS
    assert [spec_model.alter_vector(p, w, **fields)
            for p, w in zip(kat.VECTORS, words, strict=True)] == kat.OUTPUTS
    codes = [spec_model.to_fixed_row(x, kat.W) for x in kat.ROWS]
    assert codes == kat.ROW_CODES
    words = spec_model.keystream_words(kat.KEY, kat.IV, len(kat.ROWS))
    assert [spec_model.alter_vector(p, w, **fields)
            for p, w in zip(codes, words, strict=True)] == kat.ROW_OUTPUTS
    # the table exercises what it should: alterations, pass-throughs and SPEC §2 step 5
    assert 5 <= sum(p != o for p, o in zip(kat.VECTORS, kat.OUTPUTS, strict=True)) < 16
    assert sum(p != o for p, o in zip(kat.ROW_CODES, kat.ROW_OUTPUTS, strict=True)) >= 3
    assert kat.ROW_CODES[0][:2] == [15999, 16001]


def test_reference_model() -> None:
    unit = ReferenceUnit(kat.params())
    out = [unit.process(np.array([v])).tolist()[0] for v in kat.VECTORS[:3]]
    out += unit.process(np.array(kat.VECTORS[3:])).tolist()
    assert out == kat.OUTPUTS
    assert to_fixed(np.array(kat.ROWS), kat.W).tolist() == kat.ROW_CODES


def test_reference_backend_and_fused_path() -> None:
    params = kat.params()
    want = to_float(np.array(kat.ROW_OUTPUTS), kat.W)
    with open_backend("reference", params) as be:
        assert be.process(np.array(kat.VECTORS)).tolist() == kat.OUTPUTS
    with open_backend("reference", params) as be:
        y, altered = be.alter_float(np.array(kat.ROWS))
    np.testing.assert_array_equal(y, want)
    assert altered == sum(p != o for p, o in zip(kat.ROW_CODES, kat.ROW_OUTPUTS, strict=True))
    x, sums = check_rows(np.array(kat.ROWS))
    words = np.array(spec_model.keystream_words(kat.KEY, kat.IV, len(x)), dtype=np.uint32)
    for compiled in (True, False):
        np.testing.assert_array_equal(alter_float(params, x, sums, words, compiled=compiled)[0],
                                      want)
