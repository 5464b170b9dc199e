"""elman.blas: the choice of BLAS thread count, on a simulated library and clock.

A ``Machine`` is both the BLAS library (its thread count) and the clock: each unit
of work advances the clock by the seconds the simulated machine takes for it at
the thread count in force. Nothing here measures real time.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import threadpoolctl

from elman import blas
from elman.blas import BlasThreads


class Machine:
    """A fake BLAS library with ``cores`` threads by default, and a clock."""

    def __init__(self, seconds: dict[int, float], cores: int = 2) -> None:
        self.seconds = dict(seconds)  # per unit of work, by thread count
        self.threads = cores
        self.now = 0.0
        self.sets: list[int] = []

    def get_num_threads(self) -> int:
        return self.threads

    def set_num_threads(self, n: int) -> None:
        self.threads = n
        self.sets.append(n)

    def clock(self) -> float:
        return self.now

    def run(self, controller: BlasThreads, units: int, size: float = 1.0) -> list[int]:
        """Run ``units`` units of work under ``controller``; the thread count of each."""
        used = []
        for _ in range(units):
            controller.start()
            used.append(self.threads)
            self.now += self.seconds[self.threads] * size
            controller.stop(size)
        return used


def controller(machine: Machine, fixed: int | None = None) -> BlasThreads:
    return BlasThreads(fixed, libraries=[machine], clock=machine.clock)


def test_a_quiet_machine_ends_up_with_all_threads():
    machine = Machine({1: 1.0, 2: 0.6})
    threads = controller(machine)
    used = machine.run(threads, 500)
    assert threads.choice == 2
    assert used[:5] == [1] * 5  # one thread until the first comparison: it is never far off
    assert used.count(1) / len(used) < 0.05  # trying one thread again now and then is cheap


def test_a_loaded_machine_keeps_one_thread_and_rarely_pays_for_trying_all():
    # All threads 40 times slower: other processes hold the cores (the demo's case).
    machine = Machine({1: 1.0, 2: 40.0})
    threads = controller(machine)
    used = machine.run(threads, 5000)
    assert threads.choice == 1
    # Each trial of all threads ends after its first unit, and the next comes MAX_GAP
    # units later: 39 units lost per 2000, 2%.
    assert used.count(2) <= 1 + len(used) // blas.MAX_GAP


def test_the_counts_repeat_where_the_outcomes_do():
    """Timings that vary from run to run but always rank the counts the same way give
    the same count at every unit, so the same results."""

    def counts(seed: int, seconds: dict[int, float]) -> list[int]:
        noise = np.random.default_rng(seed)
        machine = Machine(seconds)
        threads = controller(machine)
        used = []
        for _ in range(3000):
            threads.start()
            used.append(machine.threads)
            machine.now += machine.seconds[machine.threads] * noise.uniform(0.85, 1.15)
            threads.stop()
        return used

    for seconds in ({1: 1.0, 2: 0.6}, {1: 1.0, 2: 40.0}, {1: 1.0, 2: 1.5}):
        assert counts(0, seconds) == counts(1, seconds)


def test_load_arriving_mid_run_is_noticed_at_once():
    machine = Machine({1: 1.0, 2: 0.6})
    threads = controller(machine)
    machine.run(threads, 300)
    assert threads.choice == 2
    machine.seconds = {1: 1.5, 2: 40.0}  # two busy processes start
    used = machine.run(threads, 20)
    assert threads.choice == 1
    assert used.count(2) <= blas.SAMPLES  # a trial starts as soon as the median jumps


def test_units_are_compared_per_size():
    """Units of different sizes (the last batch of an epoch, padded batches of
    different lengths) are compared per unit of size, not per unit."""
    machine = Machine({1: 0.6, 2: 1.0})  # seconds per unit of size: one thread is faster
    threads = controller(machine)
    for _ in range(300):
        threads.start()
        size = 4.0 if machine.threads == 1 else 1.0  # but its units happen to be larger
        machine.now += machine.seconds[machine.threads] * size
        threads.stop(size)
    assert threads.choice == 1


def test_the_first_units_are_not_timed():
    machine = Machine({1: 1.0, 2: 0.6})
    threads = controller(machine)
    machine.seconds[1] = 100.0  # the first units allocate, say
    machine.run(threads, blas.WARMUP)
    machine.seconds[1] = 1.0
    machine.run(threads, 20)
    assert threads.choice == 2  # the slow warm-up did not count against one thread


def test_a_unit_never_stopped_is_not_counted():
    machine = Machine({1: 1.0, 2: 0.6})
    threads = controller(machine)
    for _ in range(10):
        threads.start()  # a skipped step: started, never stopped
        machine.now += 1000.0
    machine.run(threads, 20)
    assert threads.choice == 2


def test_the_original_count_comes_back():
    machine = Machine({1: 1.0, 2: 40.0})
    with controller(machine) as threads:
        machine.run(threads, 50)
        assert machine.threads == 1
    assert machine.threads == 2
    with pytest.raises(RuntimeError), controller(machine) as threads:
        threads.start()
        raise RuntimeError("a failed step")
    assert machine.threads == 2


def test_fixed_keeps_one_count_and_restores():
    machine = Machine({1: 0.1, 2: 40.0})
    with controller(machine, fixed=2) as threads:
        assert set(machine.run(threads, 100)) == {2}
    with controller(machine, fixed=1) as threads:
        assert set(machine.run(threads, 100)) == {1}
    assert machine.threads == 2
    with pytest.raises(ValueError, match="at least 1"):
        controller(machine, fixed=0)


def test_nothing_to_choose_changes_nothing():
    single = Machine({1: 1.0}, cores=1)  # OPENBLAS_NUM_THREADS=1, or a one-core machine
    with controller(single) as threads:
        assert not threads.adaptive
        single.run(threads, 50)
    assert single.sets == []
    with BlasThreads(libraries=[]) as threads:  # no BLAS that threadpoolctl knows
        assert not threads.adaptive
        for _ in range(10):
            threads.start()
            threads.stop()


def test_the_real_library_gets_its_count_back():
    np.ones((2, 2)) @ np.ones((2, 2))  # numpy's BLAS is loaded
    before = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    with BlasThreads(fixed=1) as threads:
        threads.start()
        np.ones((64, 64)) @ np.ones((64, 64))
        threads.stop()
    with BlasThreads() as threads:
        for _ in range(20):
            threads.start()
            np.ones((64, 64)) @ np.ones((64, 64))
            threads.stop()
    assert [pool["num_threads"] for pool in threadpoolctl.threadpool_info()] == before


def test_for_arrays_sets_numpy_s_blas_for_numpy_arrays_only(blas_at_two_threads):
    """The torch backend's products run in torch's threads: numpy's BLAS is left alone."""
    counts = blas_at_two_threads
    for backend, during in (("numpy", 1), ("torch", 2)):
        with BlasThreads.for_arrays(SimpleNamespace(backend=backend), threads=1) as threads:
            threads.start()
            assert counts() == {during}, backend
            threads.stop()
        assert counts() == {2}
