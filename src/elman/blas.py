"""How many threads numpy's BLAS uses for elman's work, chosen by timing that work.

OpenBLAS splits every product above a small size (m n k > 262,144) over all cores,
and its threads wait for each other by spinning. On a quiet machine that is what
makes the large products (the output layer, the input projection, the weight
gradients) fast. When other processes hold the cores, every product waits until the
scheduler runs the other thread again, and a recurrent layer computes hundreds of
small products per step: the demo model then trains 82 times slower than on a quiet
machine, against 2 times slower with one thread. Neither count is right everywhere,
and the load changes while a run goes on, so ``BlasThreads`` times the work itself.
It runs repeated units of work (training steps, evaluation batches, sampled tokens)
with one thread count, now and then tries the other for a few units, and keeps
whichever was faster per unit of size (tokens):

    blas = BlasThreads()
    with blas:  # gives the library its own thread count back at the end
        for batch in batches:
            blas.start()  # sets this unit's thread count and starts its clock
            ...  # forward, backward, update
            blas.stop(batch.size)

It starts with one thread, whose worst case is bounded (a few times slower than all
threads on a quiet machine), and tries all threads after ``WARMUP + SAMPLES`` units.
A trial lasts ``SAMPLES`` units, or one when that unit took more than ``ABANDON`` times
the usual time. The next trial comes ``FIRST_GAP`` units after a switch, twice as many
units after each trial that changed nothing (up to ``MAX_GAP``), and ``MAX_GAP`` after
an abandoned one; so trying a count 40 times slower costs 2% of the time. When all
threads are in use and their units suddenly take ``ABANDON`` times as long (other
processes took the cores), one thread is tried at once.

Results: OpenBLAS uses different kernels and blockings for one thread and for several,
so a product can differ in its last bits between the two counts, and so can a run.
The schedule depends only on which count won each trial and on whether it was
abandoned, so where those outcomes repeat (a quiet machine, a clear winner), so do the
counts and the results. ``BlasThreads(fixed=n)`` keeps one count throughout.

Only numpy's BLAS (loaded by importing numpy), threadpoolctl, the standard library and
``elman.errors`` are used here.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from threadpoolctl import ThreadpoolController

from elman.errors import ElmanError

WARMUP = 2  # untimed units at the start: the first ones allocate their arrays
SAMPLES = 3  # units timed per count for a comparison (their medians are compared)
ABANDON = 2.0  # a unit this many times slower than usual ends a trial (or starts one)
FIRST_GAP = 20  # units from a switch to the next trial; doubled after each trial
MAX_GAP = 2000  # ... up to this many, and this many at once after an abandoned trial


class Library(Protocol):
    """What ``BlasThreads`` needs of a threadpoolctl library controller."""

    def get_num_threads(self) -> int | None: ...
    def set_num_threads(self, num_threads: int) -> Any: ...


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, which taskset and container
    limits narrow (``os.cpu_count`` where the system does not tell)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_threads(threads: int) -> None:
    """Refuse more BLAS threads than cores: OpenBLAS's threads spin while they wait for
    each other, so threads without a core of their own make every product wait for the
    scheduler (--threads 1000 on 2 cores trains about 100 times slower)."""
    cores = usable_cores()
    if threads > cores:
        raise ElmanError(
            f"--threads {threads} is more than the {cores} cores this process may use; give "
            f"at most {cores}, or 0 to let elman choose."
        )


def blas_libraries() -> list[Library]:
    """threadpoolctl's controllers for the BLAS libraries loaded in this process
    (one look through the loaded libraries, about a millisecond)."""
    return ThreadpoolController().select(user_api="blas").lib_controllers


class BlasThreads:
    """Runs each unit of work with one BLAS thread or with all of them, whichever is faster.

    "All" is the thread count the libraries had when this object was made: their
    default (the number of cores) or what ``OPENBLAS_NUM_THREADS`` asked for. With
    ``fixed`` set, every unit runs with that many threads instead. With no BLAS found,
    or one that already runs a single thread, nothing is changed.

    ``libraries`` and ``clock`` stand in for threadpoolctl and the time in tests.
    """

    def __init__(
        self,
        fixed: int | None = None,
        libraries: Sequence[Library] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if fixed is not None and fixed < 1:
            raise ValueError(f"fixed must be at least 1 thread, got {fixed}")
        self._libraries = list(blas_libraries() if libraries is None else libraries)
        self._original = [lib.get_num_threads() or 1 for lib in self._libraries]
        self.all = max(self._original, default=1)
        self.fixed = fixed
        self._clock = clock
        self.current: int | None = None  # the count set now; None: the libraries' own
        self.choice = 1  # the count kept between trials
        self._trying: int | None = None  # the other count, while a trial is under way
        self._latest: dict[int, list[float]] = {1: [], self.all: []}  # seconds per size
        self._usual = 0.0  # the kept count's median when it won its last trial
        self._units = 0  # units timed so far
        self._next_trial = WARMUP + SAMPLES
        self._gap = FIRST_GAP
        self._started: float | None = None

    @classmethod
    def for_arrays(cls, arrays: Any, threads: int = 0) -> BlasThreads:
        """The threads for work on a model's ``arrays`` (``model.arrays``): ``threads``
        of numpy's BLAS (0: one or all, by timing; N: always N) for NumPy arrays, and
        nothing changed for another backend's (torch runs its products in threads of its
        own, which it manages)."""
        numpy_blas = None if arrays.backend == "numpy" else []
        return cls(threads or None, libraries=numpy_blas)

    @property
    def adaptive(self) -> bool:
        """Whether there is a choice to make: more than one thread and none fixed."""
        return self.fixed is None and self.all > 1

    def __enter__(self) -> BlasThreads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def restore(self) -> None:
        """Give each library the thread count it had when this object was made; the
        next ``start`` sets the chosen count again."""
        if self.current is not None:
            for lib, n in zip(self._libraries, self._original, strict=True):
                lib.set_num_threads(n)
            self.current = None
        self._started = None

    def start(self) -> None:
        """Set the thread count for the next unit of work and start its clock."""
        if not self.adaptive:
            if self.fixed is not None:
                self._set(self.fixed)
            return
        if self._trying is None and self._units >= self._next_trial:
            self._trying = self.all if self.choice == 1 else 1
            self._latest[self._trying].clear()
        self._set(self._trying or self.choice)
        self._started = self._clock()

    def stop(self, size: float = 1.0) -> None:
        """Stop the clock of the unit ``start`` began; ``size`` is how much work it
        was (its tokens, say), so that units of different sizes compare. A unit that
        is never stopped (an exception, a step skipped) does not count."""
        if self._started is None:
            return
        seconds = (self._clock() - self._started) / size
        self._started = None
        self._units += 1
        if self._units <= WARMUP:
            return
        latest = self._latest[self.current]
        latest.append(seconds)
        del latest[:-SAMPLES]
        if self._trying is not None:
            kept = statistics.median(self._latest[self.choice])
            if len(latest) == SAMPLES or seconds > ABANDON * kept:
                self._decide(statistics.median(latest), kept)
        elif self.choice > 1 and statistics.median(latest) > ABANDON * self._usual:
            # Other processes took the cores: one thread may now be far faster.
            self._next_trial, self._gap = self._units, FIRST_GAP

    def _set(self, n: int) -> None:
        if n != self.current:
            for lib in self._libraries:
                lib.set_num_threads(n)
            self.current = n

    def _decide(self, tried: float, kept: float) -> None:
        """End a trial: keep the faster count and schedule the next trial."""
        abandoned = len(self._latest[self._trying]) < SAMPLES
        if tried < kept:
            self.choice, self._usual, self._gap = self._trying, tried, FIRST_GAP
        else:
            self._usual = kept
            self._gap = MAX_GAP if abandoned else min(2 * self._gap, MAX_GAP)
        self._trying = None
        self._next_trial = self._units + self._gap
