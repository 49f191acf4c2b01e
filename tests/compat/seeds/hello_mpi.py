# hello_mpi.py - Basic MPI concepts
from mpi4py import MPI

def basic_mpi_demo():
    """Demonstrates fundamental MPI concepts"""
  
    # Get the communicator (group of all processes)
    comm = MPI.COMM_WORLD
  
    # Get this process's rank (ID number)
    rank = comm.Get_rank()
  
    # Get total number of processes
    size = comm.Get_size()
  
    # Each process executes this code independently
    print(f"Hello from process {rank} of {size}")
  
    # Demonstrate point-to-point communication
    if rank == 0:
        # Process 0 sends data to process 1
        data = "Hello from process 0!"
        comm.send(data, dest=1, tag=11)
        print(f"Process {rank} sent: {data}")
  
    elif rank == 1:
        # Process 1 receives data from process 0
        data = comm.recv(source=0, tag=11)
        print(f"Process {rank} received: {data}")

if __name__ == "__main__":
    basic_mpi_demo()
