# monte_carlo_pi.py - Estimate π using distributed random sampling
from mpi4py import MPI
import numpy as np
import time

def estimate_pi_serial(n_samples):
    """Serial version for comparison"""
    count = 0
    for _ in range(n_samples):
        x, y = np.random.random(), np.random.random()
        if x*x + y*y <= 1.0:
            count += 1
    return 4.0 * count / n_samples

def estimate_pi_parallel():
    """Distributed Monte Carlo estimation of π"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = comm.Get_size()
  
    # Total number of samples
    total_samples = 10_000_000
  
    # Each process handles a portion
    local_samples = total_samples // size
  
    print(f"Process {rank}: Computing with {local_samples} samples")
  
    # Start timing
    start_time = time.time()
  
    # Monte Carlo sampling
    # Generate random points in unit square
    x = np.random.random(local_samples)
    y = np.random.random(local_samples)
  
    # Count points inside unit circle
    inside_circle = np.sum((x*x + y*y) <= 1.0)
  
    print(f"Process {rank}: {inside_circle} points inside circle")
  
    # Gather results from all processes
    total_inside = comm.reduce(inside_circle, op=MPI.SUM, root=0)
  
    # Calculate π estimate
    if rank == 0:
        pi_estimate = 4.0 * total_inside / total_samples
        elapsed_time = time.time() - start_time
      
        print(f"\n=== Results ===")
        print(f"Total samples: {total_samples:,}")
        print(f"Points inside circle: {total_inside:,}")
        print(f"π estimate: {pi_estimate:.6f}")
        print(f"Actual π: {np.pi:.6f}")
        print(f"Error: {abs(pi_estimate - np.pi):.6f}")
        print(f"Time (parallel): {elapsed_time:.3f} seconds")
        print(f"Using {size} processes")
      
        # Compare with serial version (smaller sample for speed)
        serial_start = time.time()
        serial_pi = estimate_pi_serial(total_samples // size)  # Fair comparison
        serial_time = time.time() - serial_start
      
        print(f"Time (serial, {total_samples//size:,} samples): {serial_time:.3f} seconds")
        print(f"Speedup: {serial_time / elapsed_time:.2f}x")

if __name__ == "__main__":
    estimate_pi_parallel()
