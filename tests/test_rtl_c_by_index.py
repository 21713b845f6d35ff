"""The unit with the ECP5's C-table organisation (by word index), in the Amaranth simulator.

The simulator elaborates without a platform, so the unit's other tests run the iCE40/generic
organisation (by class). Here :func:`dynamarks.rtl.param_store.c_table_by_index` is forced on
for both its users (the store and the sampler), as on the ECP5, and the unit's output is
checked word for word against the SPEC §4–§10 model (tests/rtl_support.py) with random
parameter sets, back-pressure on both sides and at full rate.
"""

import random
import sys
from pathlib import Path
from unittest import mock

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/rtl_support.py (pytest's importlib mode)
from rtl_support import (  # noqa: E402
    alter_vector,
    configure,
    expected_output,
    keystream_words,
    random_params,
    random_vector,
    run_sim,
    stream,
    vector_words,
)

from dynamarks.rtl import param_store, sampler  # noqa: E402
from dynamarks.rtl.unit import WatermarkUnit  # noqa: E402


def _by_index():
    """Both users of the organisation choice see the ECP5's (and agree)."""
    seen = []

    def choice(platform):
        seen.append(platform)
        return True

    return seen, mock.patch.multiple(param_store, c_table_by_index=choice), \
        mock.patch.multiple(sampler, c_table_by_index=choice)


@pytest.mark.parametrize("classes,width,n_vectors,seed,p_in,p_out", [
    (10, 16, 60, 31, 0.7, 0.6),
    (3, 12, 60, 32, 0.8, 0.5),
    (2, 16, 60, 34, 0.7, 0.6),
    (16, 20, 20, 33, 1.0, 1.0),
])
def test_unit_with_c_by_index(classes, width, n_vectors, seed, p_in, p_out):
    rng = random.Random(seed)
    prm = random_params(rng, classes, width)
    vectors = [random_vector(rng, prm, classes, width) for _ in range(n_vectors)]
    r_words = keystream_words(prm.key, prm.iv, n_vectors)
    expected = expected_output(vectors, prm, width, r_words)
    words = [w for v in vectors for w in vector_words(v)]
    dut = WatermarkUnit(classes, width)
    out = {}

    async def tb(ctx):
        await configure(ctx, dut, prm, classes)
        out["res"] = await stream(ctx, dut, words, rng=rng, p_in=p_in, p_out=p_out,
                                  expect_out=len(expected))

    seen, patch_store, patch_sampler = _by_index()
    with patch_store, patch_sampler:
        run_sim(dut, tb)
    assert len(seen) == 2                      # the store and the sampler both asked
    res = out["res"]
    assert res.ks_underflow == 0
    assert res.words == expected
    assert any(alter_vector(v, prm, width, r) != v
               for v, r in zip(vectors, r_words, strict=True))
