# mpi_profiling.py - Performance analysis and debugging
from mpi4py import MPI
import numpy as np
import time
import psutil
import traceback
import sys

class MPIProfiler:
    """Performance monitoring and debugging utilities"""
  
    def __init__(self):
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timers = {}
        self.memory_snapshots = []
        self.communication_stats = {
            'sends': 0,
            'receives': 0,
            'bytes_sent': 0,
            'bytes_received': 0
        }
  
    def start_timer(self, name):
        """Start a named timer"""
        self.timers[name] = {'start': time.time(), 'total': 0}
  
    def stop_timer(self, name):
        """Stop a named timer"""
        if name in self.timers and 'start' in self.timers[name]:
            elapsed = time.time() - self.timers[name]['start']
            self.timers[name]['total'] += elapsed
            del self.timers[name]['start']
            return elapsed
        return 0
  
    def memory_snapshot(self, label):
        """Take a memory usage snapshot"""
        memory = psutil.virtual_memory()
        process = psutil.Process()
      
        snapshot = {
            'label': label,
            'timestamp': time.time(),
            'system_available': memory.available // (1024**2),  # MB
            'process_rss': process.memory_info().rss // (1024**2),  # MB
            'process_vms': process.memory_info().vms // (1024**2),  # MB
        }
      
        self.memory_snapshots.append(snapshot)
        return snapshot
  
    def profile_communication(self, operation, *args, **kwargs):
        """Profile MPI communication operations"""
        start_time = time.time()
      
        try:
            if operation == 'send':
                data = args[0]
                self.comm.send(data, **kwargs)
                self.communication_stats['sends'] += 1
                self.communication_stats['bytes_sent'] += sys.getsizeof(data)
          
            elif operation == 'recv':
                data = self.comm.recv(**kwargs)
                self.communication_stats['receives'] += 1
                self.communication_stats['bytes_received'] += sys.getsizeof(data)
                return data
          
            elif operation == 'bcast':
                data = self.comm.bcast(args[0] if args else None, **kwargs)
                if 'root' in kwargs and kwargs['root'] == self.rank:
                    self.communication_stats['sends'] += self.size - 1
                else:
                    self.communication_stats['receives'] += 1
                return data
          
            elif operation == 'gather':
                data = self.comm.gather(args[0], **kwargs)
                if 'root' in kwargs and kwargs['root'] == self.rank:
                    self.communication_stats['receives'] += self.size - 1
                else:
                    self.communication_stats['sends'] += 1
                return data
      
        except Exception as e:
            print(f"Process {self.rank}: Communication error in {operation}: {e}")
            traceback.print_exc()
            raise
      
        finally:
            comm_time = time.time() - start_time
            timer_name = f'comm_{operation}'
            if timer_name not in self.timers:
                self.timers[timer_name] = {'total': 0}
            self.timers[timer_name]['total'] += comm_time
  
    def generate_report(self):
        """Generate comprehensive performance report"""
        # Gather statistics from all processes
        all_timers = self.comm.gather(self.timers, root=0)
        all_comm_stats = self.comm.gather(self.communication_stats, root=0)
        all_memory = self.comm.gather(self.memory_snapshots, root=0)
      
        if self.rank == 0:
            print("=" * 60)
            print("MPI PERFORMANCE REPORT")
            print("=" * 60)
          
            # Timer analysis
            print("\n📊 TIMING ANALYSIS")
            print("-" * 30)
          
            # Aggregate timer data
            all_timer_names = set()
            for rank_timers in all_timers:
                all_timer_names.update(rank_timers.keys())
          
            for timer_name in sorted(all_timer_names):
                times = [rank_timers.get(timer_name, {}).get('total', 0) 
                        for rank_timers in all_timers]
              
                if any(t > 0 for t in times):
                    avg_time = np.mean(times)
                    max_time = np.max(times)
                    min_time = np.min(times)
                    std_time = np.std(times)
                  
                    print(f"{timer_name:20s}: avg={avg_time:.3f}s, "
                          f"max={max_time:.3f}s, std={std_time:.3f}s")
          
            # Communication analysis
            print("\n📡 COMMUNICATION ANALYSIS")
            print("-" * 30)
          
            total_sends = sum(stats['sends'] for stats in all_comm_stats)
            total_receives = sum(stats['receives'] for stats in all_comm_stats)
            total_bytes_sent = sum(stats['bytes_sent'] for stats in all_comm_stats)
            total_bytes_received = sum(stats['bytes_received'] for stats in all_comm_stats)
          
            print(f"Total sends: {total_sends:,}")
            print(f"Total receives: {total_receives:,}")
            print(f"Total bytes sent: {total_bytes_sent:,} ({total_bytes_sent/(1024**2):.1f} MB)")
            print(f"Total bytes received: {total_bytes_received:,} ({total_bytes_received/(1024**2):.1f} MB)")
          
            # Communication balance
            sends_per_process = [stats['sends'] for stats in all_comm_stats]
            comm_imbalance = np.std(sends_per_process) / np.mean(sends_per_process) if np.mean(sends_per_process) > 0 else 0
            print(f"Communication imbalance: {comm_imbalance:.3f} (lower is better)")
          
            # Memory analysis
            print("\n💾 MEMORY ANALYSIS")
            print("-" * 30)
          
            for rank, memory_snapshots in enumerate(all_memory):
                if memory_snapshots:
                    max_rss = max(snap['process_rss'] for snap in memory_snapshots)
                    print(f"Process {rank}: Peak memory usage: {max_rss} MB")

def profiling_demo():
    """Demonstrate profiling capabilities"""
    profiler = MPIProfiler()
  
    # Take initial memory snapshot
    profiler.memory_snapshot("initialization")
  
    # Simulate some computational work with profiling
    profiler.start_timer("data_generation")
  
    # Generate test data
    data_size = 10000
    local_data = np.random.rand(data_size)
  
    profiler.stop_timer("data_generation")
    profiler.memory_snapshot("after_data_generation")
  
    # Simulate communication with profiling
    profiler.start_timer("communication")
  
    if profiler.rank == 0:
        # Broadcast data
        broadcast_data = profiler.profile_communication('bcast', local_data, root=0)
      
        # Gather results
        results = profiler.profile_communication('gather', np.sum(local_data), root=0)
      
    else:
        # Receive broadcast
        broadcast_data = profiler.profile_communication('bcast', None, root=0)
      
        # Send result
        profiler.profile_communication('gather', np.sum(broadcast_data), root=0)
  
    profiler.stop_timer("communication")
    profiler.memory_snapshot("after_communication")
  
    # Simulate computational work
    profiler.start_timer("computation")
  
    # Some CPU-intensive work
    result = 0
    for i in range(1000000):
        result += np.sin(i * 0.001)
  
    profiler.stop_timer("computation")
    profiler.memory_snapshot("after_computation")
  
    # Generate and display report
    profiler.generate_report()

def debugging_demo():
    """Demonstrate debugging techniques"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = comm.Get_size()
  
    print(f"🐛 Debug Info - Process {rank}")
    print(f"   PID: {psutil.Process().pid}")
    print(f"   CPU cores available: {psutil.cpu_count()}")
    print(f"   Memory available: {psutil.virtual_memory().available // (1024**2)} MB")
  
    # Demonstrate synchronized debugging
    print(f"\n🔄 Synchronization check - Process {rank}")
  
    # Each process reports in order
    for i in range(size):
        if rank == i:
            print(f"Process {rank}: Ready for synchronization")
            sys.stdout.flush()  # Ensure output appears immediately
        comm.barrier()  # Wait for all processes to reach this point
  
    # Demonstrate deadlock detection
    print(f"\n⚠️  Deadlock prevention demo - Process {rank}")
  
    # Safe communication pattern
    if rank % 2 == 0:  # Even ranks send first
        if rank + 1 < size:
            comm.send(f"Message from {rank}", dest=rank + 1, tag=0)
            response = comm.recv(source=rank + 1, tag=1)
            print(f"Process {rank}: Received response: {response}")
    else:  # Odd ranks receive first
        message = comm.recv(source=rank - 1, tag=0)
        print(f"Process {rank}: Received: {message}")
        comm.send(f"Response from {rank}", dest=rank - 1, tag=1)

if __name__ == "__main__":
    print("=== MPI Profiling Demo ===")
    profiling_demo()
  
    print("\n=== MPI Debugging Demo ===")
    debugging_demo()
