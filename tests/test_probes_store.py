"""The host store: series pieces in, bounded series out."""

from __future__ import annotations

import numpy as np

from vizlab.probes.store import Store


def test_thinning_gives_kept_arrays_their_own_memory() -> None:
    # Arrays arrive as rows of one decoded block per copy. Thinning drops every other row,
    # so the rows it keeps must stop holding the whole block alive.
    store = Store(max_points=4)
    blocks = [np.arange(12.0).reshape(4, 3) + 100 * k for k in range(2)]
    store.extend([([0, 1, 2, 3], "layer", "activations", "hist", blocks[0])])
    store.extend([([4, 5, 6, 7], "layer", "activations", "hist", blocks[1])])
    assert store.thinning  # 8 points > 4: thinned once
    steps, values = store.series("layer", "activations", "hist")
    np.testing.assert_array_equal(steps, [0, 2, 4, 6, 7])
    np.testing.assert_array_equal(values, np.concatenate(blocks)[[0, 2, 4, 6, 7]])
    # the kept rows share one new block that holds nothing else
    kept = store._series[("layer", "activations", "hist")].values
    assert all(v.base is kept[0].base and v.base.shape == (len(kept), 3) for v in kept)
    assert not any(np.shares_memory(v, b) for v in kept for b in blocks)
    # later pieces are stored as rows again, and read back unchanged
    store.extend([([8], "layer", "activations", "hist", np.ones((1, 3)))])
    assert store.latest()[1]["layer"]["hist"].tolist() == [1.0, 1.0, 1.0]
