"""The scheduler's decisions as a pure state machine: events in, instructions out.

Theory of operation. Everything the executor decides — where a task goes,
what waits for what, who keeps a result and when it is freed, what runs
again after a failure, where an actor lives and in which order its calls
leave — is decided here, by code that touches no socket, no event loop, no
thread and no clock, like dask/distributed's ``worker_state_machine.py``
and h11's connection state. ``node.Node`` and ``worker.Worker`` are the
I/O around it: they turn messages, failures and the user's calls into
events, feed them to :meth:`Origin.handle`, and carry out the instructions
it returns, in order (send a message, set a future). The same events give
the same instructions every time, so the machine is tested by feeding it
random histories of a simulated cluster (``tests/scheduler/test_state.py``).

Each rank holds one :class:`Origin` for the tasks and actors it submits
(the root's, or a worker's nested ones; a task id carries its origin's rank
in its high bits, ``queue.origin_of``) and, when it runs tasks, one
:class:`TaskQueue`, its deque.

Events (``messages``):

    Submit       a task, with the futures among its arguments as inputs
    Finished     a task's or actor call's result or error came (or its size,
                 when the result stays on the worker that made it)
    InputLost    a dependent could not fetch an input and did not run
    Moved        a victim gave tasks to a thief
    WorkerLost   a worker died (with its queue, its results and its actors)
    Released     the caller released a future (``Executor.release``)
    FutureGone   the future of a kept result was garbage-collected
    Wanted       someone awaits the future of a kept result
    Fetched      the value of a kept result came, or not
    ActorNew, ActorCall, ActorClose, ActorClosed, HandleSeen   actors

Instructions:

    Place        send a task to a worker (or run it here)
    Resolve, Fail                  settle a future
    Kept         a future's value stays on a worker: wait until wanted
    Reopen       a kept result is made again: its future waits again
    Fetch        get a kept value for a future of this rank
    Free         a holder may drop a kept value
    ActorSend    an actor's "new", "call" or "del" message to its worker
    ActorEnded   an actor is closed or dead: ``close()`` returns

Decisions. Placement: the root deals tasks round-robin over the live
workers; a task alone in flight with cores to spare goes to the worker that
sent the last result, marked ``lone`` (it polls for the next); a worker
keeps the tasks it submits; a dependent goes where most bytes of its kept
inputs are. Dependencies: a dependent waits until each input finished; a
failed input fails it (and its dependents, down the graph) with the
input's error marked ``upstream``. Ownership: a large result stays on its
maker, and its origin frees it once no future refers to it and no
unfinished dependent needs it; a freed or lost result keeps its lineage
(the spec), so it can be made again while needed. Retries: a task that
raises runs again while its ``retries`` last; a task queued or running on a
lost worker runs again elsewhere, up to ``max_retries`` times, else fails
with ``RankFailedError``. A worker that a dependent could not fetch an
input from is *suspect* (probably gone, the news not in yet): nothing new
is placed there until a result from it shows it alive, so that one loss
costs a task one attempt, not two. Actors: see ``state.actors``.

Invariants. Every open future's task is in exactly one of: placed
(``table.pending``, at one live worker or about to be re-placed), waiting
for inputs (``graph.recipes``), or in an actor's queue or ``sent``; a kept
result is in ``graph.kept`` while its holder is alive, and is freed only
when ``needed`` is false; the values of inline inputs stay exactly while a
dependent needs them (``graph``); a task is placed again only when the copy
it replaces is lost or may be (its worker died, or the victim that gave it
away died while it may have been on its way, or it raised and may run
again); a second copy's result is taken once, and its kept value freed.
"""

from zmqmesh.scheduler.state.actors import ActorRecord
from zmqmesh.scheduler.state.messages import *  # noqa: F403
from zmqmesh.scheduler.state.messages import __all__ as _messages
from zmqmesh.scheduler.state.origin import Origin
from zmqmesh.scheduler.state.queue import TaskQueue, by_origin, origin_of

__all__ = ["ActorRecord", "Origin", "TaskQueue", "by_origin", "origin_of", *_messages]
