/* mpi4py's C API header, as zmqmesh's mpi4py layer provides it.
 *
 * zmqmesh runs mpi4py programs with no MPI library, so there is no C API:
 * no MPI_Comm behind an MPI.Comm, nothing a C extension could link against.
 * A program whose C or Cython code includes this header stops here with an
 * error that says so, rather than later with one that does not.
 * See docs/mpi4py.md ("What stays out").
 */
#ifndef ZMQMESH_MPI4PY_H
#define ZMQMESH_MPI4PY_H
#error "zmqmesh's mpi4py layer has no C API (no MPI library underneath): extensions that include mpi4py/mpi4py.h need mpi4py on a real MPI"
#endif
