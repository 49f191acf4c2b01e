# point_to_point.py - Direct communication between two processes
from mpi4py import MPI
import numpy as np

def demonstrate_send_recv():
    """Basic send/receive operations"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = comm.Get_size()
  
    if size < 2:
        print("Need at least 2 processes!")
        return
  
    if rank == 0:
        # Sender process
        data = {
            'message': 'Hello World',
            'array': np.array([1, 2, 3, 4, 5]),
            'number': 42
        }
      
        print(f"Process {rank} sending: {data}")
        comm.send(data, dest=1, tag=0)
      
        # Receive response
        response = comm.recv(source=1, tag=1)
        print(f"Process {rank} received response: {response}")
  
    elif rank == 1:
        # Receiver process
        data = comm.recv(source=0, tag=0)
        print(f"Process {rank} received: {data}")
      
        # Process the data and send response
        response = {
            'processed': data['array'] * 2,
            'status': 'success'
        }
        comm.send(response, dest=0, tag=1)

def demonstrate_non_blocking():
    """Non-blocking communication for better performance"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
  
    if rank == 0:
        data = np.random.rand(1000)  # Large array
      
        # Start non-blocking send
        req = comm.isend(data, dest=1, tag=0)
      
        # Do other work while communication happens
        print("Process 0: Doing other work while sending...")
        other_work = np.sum(np.random.rand(1000))
      
        # Wait for send to complete
        req.wait()
        print(f"Process 0: Send completed, other work result: {other_work}")
  
    elif rank == 1:
        # Non-blocking receive
        req = comm.irecv(source=0, tag=0)
      
        # Do other work
        print("Process 1: Doing other work while receiving...")
        other_work = np.prod(np.random.rand(10))
      
        # Wait for data to arrive
        data = req.wait()
        print(f"Process 1: Received {len(data)} elements, other work: {other_work}")

if __name__ == "__main__":
    demonstrate_send_recv()
    print("\n--- Non-blocking Communication ---")
    demonstrate_non_blocking()
