"""A job's settings and where they come from: our launcher's variables,
foreign launchers (SLURM, MPI), host lists, the lifeline to the launcher."""
