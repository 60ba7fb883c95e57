"""How a JMX read is shaped by the plan's size (``TargetReader``'s default): pure
arithmetic, chosen by measurement in ``bench/jmx_scrape`` (its README has the figures)."""

from __future__ import annotations

import pytest

from kafkascope.sources.jmx.batching import BATCH
from kafkascope.sources.jmx.reader import MAX_BATCH, SMALL_PLAN, read_shape


@pytest.mark.parametrize(
    ("beans", "expected"),
    [
        # a client or a broker's base sets: one call at a time, nothing to overlap
        (0, (1, BATCH)),
        (111, (1, BATCH)),
        (SMALL_PLAN, (1, BATCH)),
        # just past small: two in flight, batches never smaller than BATCH
        (SMALL_PLAN + 1, (2, BATCH)),
        (2_000, (2, BATCH)),  # 2000 // 64 = 31 < BATCH
        # the 2,000-partition broker's full catalog: ~64 hand-offs of 190 MBeans
        (12_174, (2, 190)),
        # huge plans: capped, so one batch still answers well within the call timeout
        (100_000, (2, MAX_BATCH)),
    ],
)
def test_read_shape(beans: int, expected: tuple[int, int]) -> None:
    assert read_shape(beans) == expected
