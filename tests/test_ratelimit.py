"""The one token bucket the server's command limit and the feeders' pacing share."""

from __future__ import annotations

from opsmon.core.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 8.0, clock=clock)  # the server's: 2 a second, bursts of 4x
    assert [bucket.take() for _ in range(9)] == [True] * 8 + [False]
    assert bucket.wait() == 0.5
    clock.now += 0.5
    assert bucket.take() and not bucket.take()


def test_it_never_holds_more_than_its_capacity() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 2.0, clock=clock)
    clock.now += 3600
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    assert bucket.wait() == 1.0
