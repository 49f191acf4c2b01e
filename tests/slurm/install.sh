#!/bin/sh
# Install what the SLURM and MPI-launcher tests need, from Debian's packages:
# slurmctld, slurmd and the client commands (slurm-client), munge (Slurm's
# authentication), MPICH's mpiexec.mpich (mpich) and Open MPI's
# mpirun.openmpi (openmpi-bin); the namespace hosts they run on come from
# tests/multihost/install.sh, which this runs first. Installs nothing itself
# when all are present; starts no daemon (the tests start their own).
set -eu
cd "$(dirname "$0")/../.."
sh tests/multihost/install.sh

missing=""
for pair in slurmctld:slurmctld slurmd:slurmd srun:slurm-client munged:munge \
    mpiexec.mpich:mpich mpirun.openmpi:openmpi-bin; do
    program=${pair%%:*}
    package=${pair#*:}
    if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$program" ]; then
        missing="$missing $package"
    fi
done

if [ -z "$missing" ]; then
    echo "slurm: Slurm, munge, MPICH and Open MPI already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

echo "slurm: installing$missing"
$SUDO apt-get update
# The packages may start their own daemons; the tests use none of them (their
# cluster has its own configuration, ports and munge socket).
# shellcheck disable=SC2086  # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
