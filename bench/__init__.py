"""zmqmesh's benchmark suite: zmqmesh measured beside its peers, in one run."""
