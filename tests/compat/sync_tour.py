"""mpi4py.util.sync on n ranks: every value of a shared counter exactly
once, mutual exclusion, conditions, semaphores; misuse raises on the
rank that made it. Argument: a directory for the shared log."""

import os
import sys
import time

from mpi4py import MPI
from mpi4py.util.sync import Condition, Counter, Mutex, Semaphore, Sequential


def raises(call, error, says):
    """``call()`` raises ``error`` with ``says`` in its message."""
    try:
        call()
    except error as exc:
        assert says in str(exc), (says, exc)
    else:
        raise AssertionError(f"no {error.__name__} ({says})")


comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
log = os.path.join(sys.argv[1], "critical.log")

# mpi4py's own examples
counter = Counter(comm)
with Sequential(comm):
    value = next(counter)
counter.free()
assert value == rank
mutex, counter = Mutex(comm), Counter(comm=comm)
with mutex:
    value = next(counter)
counter.free()
mutex.free()
assert sorted(comm.allgather(value)) == list(range(size))

# every value exactly once, drawn concurrently, the root busy meanwhile
counter = Counter(10, 3, comm=comm, root=size - 1)
mine = []
while (v := counter.next()) < 10 + 3 * 300:
    mine.append(v)
    if rank == size - 1:
        sum(range(20000))  # the root computes between its draws
drawn = sorted(v for got in comm.allgather(mine) for v in got)
assert drawn == list(range(10, 10 + 3 * 300, 3)), drawn[:20]
counter.free()

# the root answers while its program makes no MPI call at all: it waits
# for the others' files, which they write once served
counter = Counter(comm=comm)
if rank == 0:
    while not all(os.path.exists(os.path.join(sys.argv[1], f"served.{r}")) for r in range(1, size)):
        time.sleep(0.001)  # waits for the files (an event), outside MPI
else:
    for _ in range(50):
        counter.next()
    open(os.path.join(sys.argv[1], f"served.{rank}"), "w").close()
comm.Barrier()
assert counter.next(0) == 50 * (size - 1)
counter.free()
raises(lambda: Counter(comm=comm, root=size), ValueError, "out of range")

# mutual exclusion: nobody else's draw comes between two of the holder's,
# and the holder's enter/leave lines in a shared log are never interleaved
mutex = Mutex(comm=comm)
ticket = Counter(comm=comm)
for _ in range(25):
    with mutex:
        assert mutex.locked() and mutex.count() == 1
        a, b = ticket.next(), ticket.next()
        assert b == a + 1, (a, b)
        with open(log, "a") as f:
            f.write(f"enter {rank}\n")
            f.flush()
            f.write(f"leave {rank}\n")
comm.Barrier()
with open(log) as f:
    lines = f.read().split("\n")[:-1]
assert len(lines) == 2 * 25 * size
for i in range(0, len(lines), 2):
    who = lines[i].split()[1]
    assert (lines[i], lines[i + 1]) == (f"enter {who}", f"leave {who}"), lines[i : i + 2]
comm.Barrier()
if rank == 0:
    assert mutex.acquire(blocking=False)
comm.Barrier()
if rank != 0:
    assert mutex.locked() and not mutex.acquire(blocking=False)
comm.Barrier()
if rank == 0:
    mutex.release()
mutex.free()
ticket.free()

# a recursive mutex counts its levels
rmutex = Mutex(comm, recursive=True)
with rmutex:
    with rmutex:
        assert rmutex.count() == 2
    assert rmutex.count() == 1
assert rmutex.count() == 0
rmutex.free()


# a condition: the waiters register, then one notify_all wakes them all;
# over a recursive mutex held twice, wait gives back both levels
def condition_round(cond, levels):
    ready, flag = Counter(comm=comm), Counter(comm=comm)
    if rank == 0:
        while True:
            with cond:
                if ready.next(0) == size - 1:  # every other rank waits now
                    flag.next(1)
                    assert cond.notify_all() == size - 1
                    break
    else:
        for _ in range(levels):
            cond.acquire()
        ready.next(1)
        assert cond.wait_for(lambda: flag.next(0) > 0)
        assert cond.locked() and cond._mutex.count() == levels
        for _ in range(levels):
            cond.release()
    comm.Barrier()
    with cond:
        assert cond.notify() == 0  # nobody waits
    ready.free()
    flag.free()


cond = Condition(comm=comm)
condition_round(cond, 1)
cond.free()
rmutex = Mutex(comm, recursive=True)
cond = Condition(rmutex)
condition_round(cond, 2)
cond.free()
rmutex.free()

# a semaphore of 2: never more than 2 inside
sem = Semaphore(2, comm=comm)
inside = Counter(comm=comm)
for _ in range(10):
    with sem:
        assert inside.next(1) < 2
        inside.next(-1)
comm.Barrier()
if rank == 0:
    assert sem.acquire() and sem.acquire() and not sem.acquire(blocking=False)
    sem.release(2)
    raises(sem.release, ValueError, "released too many times")
comm.Barrier()
inside.free()
sem.free()

# misuse raises where it is made
m = Mutex(comm=comm)
for call, error, says in (
    (m.release, RuntimeError, "unacquired"),
    (lambda: (m.acquire(), m.acquire()), RuntimeError, "already held"),
    (lambda: Counter(typecode="U"), ValueError, "not a number type"),
    (lambda: Counter(comm=42), TypeError, "must be an MPI.Intracomm"),
    (lambda: Semaphore(-1), ValueError, ">= 0"),
):
    raises(call, error, says)
m.release()
cond = Condition(m)
for call in (cond.notify, cond.notify_all, cond.wait):
    raises(call, RuntimeError, "un-acquired lock")
cond.free()
for call in (cond.acquire, cond.release, cond.notify, cond.wait):  # freed: as mpi4py
    raises(call, RuntimeError, "freed")
m.free()
for call in (m.acquire, m.release, m.locked, m.count):
    raises(call, RuntimeError, "freed")
# a floating-point counter, as mpi4py's typecodes 'f' and 'd'
fc = Counter(0.5, 0.25, typecode="d", comm=comm)
drawn = comm.allgather([fc.next() for _ in range(3)])
assert sorted(v for vs in drawn for v in vs) == [0.5 + 0.25 * k for k in range(3 * size)], drawn
fc.free()
c = Counter(comm=comm)
c.free()
raises(c.next, RuntimeError, "freed")
comm.Barrier()
if rank == 0:
    print(f"sync tour ok on {size} ranks")
