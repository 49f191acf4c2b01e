"""How the launcher starts a rank inside a SLURM allocation: through ``srun``.

Inside a batch script or an ``salloc`` shell, ``zmqmesh launch`` without
``-n`` and ``--hosts`` runs one rank on each task slot of the allocation
(``job/allocation.py``), as ``mpirun`` does there. It starts them as SLURM
job steps rather than over ssh: SLURM then knows every rank, so ``scancel``,
the job's time limit and a lost node stop them, and nodes that accept no
ssh (most clusters only accept it from nodes of one's running job, if at
all) still run them.

Each rank is a step of one task on its node, running the same remote end
as an ssh rank (``remote.py``): srun forwards the launcher's stdin to it,
so the job description (with the job's keys) and the heartbeats travel as
they do over ssh, and a lost launcher still stops the rank. The step's task
learns the launcher's address from ``SLURM_LAUNCH_NODE_IPADDR``: the address
slurmd reaches srun at for the step's own I/O, so every node reaches it.

Options, and why:

- ``--nodes=1 --ntasks=1 --ntasks-per-node=1 --nodelist=HOST``: one task on
  the rank's node, whatever ``SLURM_NTASKS``-like variables the allocation
  left in the environment (srun reads them as options);
- ``--overlap``: the steps share the allocation's CPUs, memory and GRES
  (Slurm 20.11 and later), so that a rank never waits for another rank's
  step to end before it can start;
- ``--kill-on-bad-exit=0``: the launcher, not srun, decides what a failed
  rank means (``RankFailedError`` in the others, then the grace period);
- ``--quiet``: no progress messages among the ranks' output;
- ``--input=all``, ``--mpi=none``: stdin reaches the task; no MPI plugin.
"""

from __future__ import annotations

__all__ = ["SRUN_OPTIONS", "srun_command"]

SRUN_OPTIONS = (
    "--nodes=1",
    "--ntasks=1",
    "--ntasks-per-node=1",
    "--overlap",
    "--kill-on-bad-exit=0",
    "--quiet",
    "--input=all",
    "--mpi=none",
)


def srun_command(srun: str, host: str, python: str, rank: int) -> list[str]:
    """The command that starts rank ``rank``'s remote end on node ``host``
    with interpreter ``python`` (``srun``: the srun program to run)."""
    return [
        srun,
        *SRUN_OPTIONS,
        f"--nodelist={host}",
        f"--job-name=zmqmesh-rank-{rank}",
        python,
        "-m",
        "zmqmesh.launcher.remote",
    ]
