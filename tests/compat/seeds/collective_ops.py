# collective_ops.py - All processes participate simultaneously
from mpi4py import MPI
import numpy as np

def demonstrate_broadcast():
    """One-to-many communication"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
  
    if rank == 0:
        # Root process has the data
        data = {
            'config': {'batch_size': 32, 'learning_rate': 0.01},
            'model_weights': np.random.rand(100)
        }
        print(f"Process {rank} broadcasting: {list(data.keys())}")
    else:
        data = None
  
    # Broadcast from process 0 to all others
    data = comm.bcast(data, root=0)
  
    print(f"Process {rank} received broadcast data with keys: {list(data.keys())}")

def demonstrate_scatter_gather():
    """Distribute work and collect results"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = comm.Get_size()
  
    if rank == 0:
        # Prepare data to distribute
        total_data = list(range(20))  # 20 numbers to process
      
        # Split data into chunks for each process
        chunk_size = len(total_data) // size
        chunks = [total_data[i:i + chunk_size] 
                 for i in range(0, len(total_data), chunk_size)]
      
        # Ensure we have exactly 'size' chunks
        while len(chunks) < size:
            chunks.append([])
      
        print(f"Process {rank} scattering chunks: {chunks}")
    else:
        chunks = None
  
    # Scatter: distribute chunks to all processes
    local_data = comm.scatter(chunks, root=0)
    print(f"Process {rank} received chunk: {local_data}")
  
    # Each process works on its chunk
    local_result = [x ** 2 for x in local_data]  # Square each number
    print(f"Process {rank} computed: {local_result}")
  
    # Gather: collect results from all processes
    all_results = comm.gather(local_result, root=0)
  
    if rank == 0:
        # Flatten the results
        final_result = [item for sublist in all_results for item in sublist]
        print(f"Process {rank} gathered final results: {final_result}")

def demonstrate_reduce():
    """Combine data from all processes"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
  
    # Each process has some data to contribute
    local_data = np.array([rank + 1] * 5)  # [1,1,1,1,1], [2,2,2,2,2], etc.
    print(f"Process {rank} contributing: {local_data}")
  
    # Sum all arrays element-wise
    total_sum = comm.reduce(local_data, op=MPI.SUM, root=0)
  
    if rank == 0:
        print(f"Process {rank} - Final sum: {total_sum}")
  
    # All-reduce: every process gets the result
    total_sum_all = comm.allreduce(local_data, op=MPI.SUM)
    print(f"Process {rank} - Allreduce result: {total_sum_all}")

if __name__ == "__main__":
    print("=== Broadcast Demo ===")
    demonstrate_broadcast()
  
    print("\n=== Scatter/Gather Demo ===")
    demonstrate_scatter_gather()
  
    print("\n=== Reduce Demo ===")
    demonstrate_reduce()
