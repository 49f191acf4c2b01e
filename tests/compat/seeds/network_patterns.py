# network_patterns.py - Communication topology optimization
from mpi4py import MPI
import numpy as np
import time
import math

class NetworkTopologies:
    """Demonstrates different communication topologies"""
  
    def __init__(self):
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
  
    def ring_topology(self):
        """Each process communicates with neighbors in a ring"""
        # Ring: 0 ↔ 1 ↔ 2 ↔ 3 ↔ 0
      
        left_neighbor = (self.rank - 1) % self.size
        right_neighbor = (self.rank + 1) % self.size
      
        print(f"Process {self.rank}: neighbors {left_neighbor} ← → {right_neighbor}")
      
        # Pass a token around the ring
        if self.rank == 0:
            # Start with token
            token = f"Token from {self.rank}"
            self.comm.send(token, dest=right_neighbor, tag=0)
            print(f"Process {self.rank}: Sent token to {right_neighbor}")
          
            # Receive token back after full circle
            final_token = self.comm.recv(source=left_neighbor, tag=0)
            print(f"Process {self.rank}: Received final token: {final_token}")
        else:
            # Receive token from left neighbor
            token = self.comm.recv(source=left_neighbor, tag=0)
            print(f"Process {self.rank}: Received token: {token}")
          
            # Modify token and pass to right neighbor
            modified_token = f"{token} → {self.rank}"
            self.comm.send(modified_token, dest=right_neighbor, tag=0)
            print(f"Process {self.rank}: Sent modified token to {right_neighbor}")
  
    def tree_topology(self):
        """Hierarchical communication pattern"""
        # Binary tree: Root=0, children of node i are 2i+1 and 2i+2
      
        def get_parent(rank):
            return (rank - 1) // 2 if rank > 0 else -1
      
        def get_children(rank, size):
            left_child = 2 * rank + 1
            right_child = 2 * rank + 2
            children = []
            if left_child < size:
                children.append(left_child)
            if right_child < size:
                children.append(right_child)
            return children
      
        parent = get_parent(self.rank)
        children = get_children(self.rank, self.size)
      
        print(f"Process {self.rank}: parent={parent}, children={children}")
      
        # Tree-based broadcast from root
        if self.rank == 0:
            # Root broadcasts to children
            message = "Broadcast message from root"
            for child in children:
                self.comm.send(message, dest=child, tag=1)
                print(f"Root sent to child {child}")
        else:
            # Receive from parent and forward to children
            message = self.comm.recv(source=parent, tag=1)
            print(f"Process {self.rank} received: {message}")
          
            # Forward to children
            for child in children:
                self.comm.send(message, dest=child, tag=1)
                print(f"Process {self.rank} forwarded to child {child}")
  
    def mesh_topology(self):
        """2D mesh communication pattern"""
        # Arrange processes in a 2D grid
      
        # Calculate grid dimensions
        grid_size = int(math.sqrt(self.size))
        if grid_size * grid_size != self.size:
            if self.rank == 0:
                print(f"Warning: {self.size} processes don't form perfect square")
            return
      
        # Calculate 2D coordinates
        row = self.rank // grid_size
        col = self.rank % grid_size
      
        # Find neighbors (up, down, left, right)
        neighbors = {}
        if row > 0:  # Up neighbor
            neighbors['up'] = (row - 1) * grid_size + col
        if row < grid_size - 1:  # Down neighbor
            neighbors['down'] = (row + 1) * grid_size + col
        if col > 0:  # Left neighbor
            neighbors['left'] = row * grid_size + (col - 1)
        if col < grid_size - 1:  # Right neighbor
            neighbors['right'] = row * grid_size + (col + 1)
      
        print(f"Process {self.rank} at ({row},{col}): neighbors {neighbors}")
      
        # Example: Heat diffusion simulation
        # Each cell exchanges heat with neighbors
        current_temp = float(self.rank)  # Initial temperature
      
        for iteration in range(3):
            neighbor_temps = []
          
            # Send temperature to all neighbors
            for direction, neighbor_rank in neighbors.items():
                self.comm.send(current_temp, dest=neighbor_rank, tag=iteration)
          
            # Receive temperatures from all neighbors
            for direction, neighbor_rank in neighbors.items():
                neighbor_temp = self.comm.recv(source=neighbor_rank, tag=iteration)
                neighbor_temps.append(neighbor_temp)
          
            # Update temperature (simple averaging)
            if neighbor_temps:
                new_temp = (current_temp + sum(neighbor_temps)) / (len(neighbor_temps) + 1)
                print(f"Process {self.rank} iteration {iteration}: {current_temp:.2f} → {new_temp:.2f}")
                current_temp = new_temp

def bandwidth_benchmark():
    """Measure network bandwidth between processes"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = comm.Get_size()
  
    if size < 2:
        print("Need at least 2 processes for bandwidth test")
        return
  
    # Test different message sizes
    message_sizes = [1024, 10240, 102400, 1024000]  # 1KB to 1MB
  
    if rank == 0:
        print("Message Size | Bandwidth (MB/s) | Latency (μs)")
        print("-" * 45)
  
    for msg_size in message_sizes:
        # Create test data
        data = np.random.bytes(msg_size)
      
        # Synchronize all processes
        comm.barrier()
      
        if rank == 0:
            # Send data multiple times for accurate measurement
            num_iterations = 100
            start_time = time.time()
          
            for _ in range(num_iterations):
                comm.send(data, dest=1, tag=0)
                # Wait for acknowledgment
                comm.recv(source=1, tag=1)
          
            total_time = time.time() - start_time
            avg_time = total_time / num_iterations
            bandwidth_mbps = (msg_size / (1024 * 1024)) / avg_time
            latency_us = avg_time * 1_000_000
          
            print(f"{msg_size:8} B   | {bandwidth_mbps:10.2f}   | {latency_us:8.2f}")
      
        elif rank == 1:
            # Receive data and send acknowledgment
            for _ in range(100):
                received_data = comm.recv(source=0, tag=0)
                comm.send("ack", dest=0, tag=1)

def run_network_patterns():
    """Demonstrate all network communication patterns"""
    patterns = NetworkTopologies()
  
    print("=== Ring Topology ===")
    patterns.ring_topology()
  
    # Synchronize before next demo
    patterns.comm.barrier()
  
    print("\n=== Tree Topology ===")
    patterns.tree_topology()
  
    patterns.comm.barrier()
  
    print("\n=== Mesh Topology ===")
    patterns.mesh_topology()
  
    patterns.comm.barrier()
  
    if patterns.rank == 0:
        print("\n=== Bandwidth Benchmark ===")
    bandwidth_benchmark()

if __name__ == "__main__":
    run_network_patterns()
