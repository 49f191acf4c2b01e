# scientific_mpi.py - MPI with NumPy, SciPy, and ML libraries
from mpi4py import MPI
import numpy as np
import time

# Conditional imports for availability
try:
    import scipy.sparse as sp
    from scipy.linalg import norm
    SCIPY_AVAILABLE = True
except ImportError:
    SCIPY_AVAILABLE = False

try:
    import sklearn.datasets as datasets
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import train_test_split
    SKLEARN_AVAILABLE = True
except ImportError:
    SKLEARN_AVAILABLE = False

class DistributedScientificComputing:
    """Integration with scientific Python ecosystem"""
  
    def __init__(self):
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
  
    def distributed_linear_algebra(self):
        """Distributed matrix operations"""
        # Generate distributed matrix
        local_rows = 1000
        cols = 500
      
        # Each process generates part of a large matrix
        local_matrix = np.random.rand(local_rows, cols)
        local_vector = np.random.rand(cols)
      
        print(f"Process {self.rank}: Local matrix shape {local_matrix.shape}")
      
        # Distribute vector to all processes
        vector = self.comm.bcast(local_vector if self.rank == 0 else None, root=0)
      
        # Parallel matrix-vector multiplication
        start_time = time.time()
        local_result = np.dot(local_matrix, vector)
      
        # Gather results
        all_results = self.comm.gather(local_result, root=0)
      
        if self.rank == 0:
            final_result = np.concatenate(all_results)
            print(f"Distributed matrix-vector multiply: {time.time() - start_time:.3f}s")
            print(f"Result shape: {final_result.shape}")
  
    def distributed_machine_learning(self):
        """Distributed machine learning with sklearn"""
        if not SKLEARN_AVAILABLE:
            if self.rank == 0:
                print("Scikit-learn not available, skipping ML demo")
            return
      
        # Generate dataset on root process
        if self.rank == 0:
            # Create a large synthetic dataset
            X, y = datasets.make_regression(
                n_samples=10000, 
                n_features=100, 
                noise=0.1, 
                random_state=42
            )
          
            # Split data for distribution
            chunk_size = len(X) // self.size
            data_chunks = []
            label_chunks = []
          
            for i in range(self.size):
                start_idx = i * chunk_size
                if i == self.size - 1:
                    # Last process gets remaining data
                    data_chunks.append(X[start_idx:])
                    label_chunks.append(y[start_idx:])
                else:
                    data_chunks.append(X[start_idx:start_idx + chunk_size])
                    label_chunks.append(y[start_idx:start_idx + chunk_size])
          
            print(f"Created dataset: {X.shape}, distributing to {self.size} processes")
        else:
            data_chunks = None
            label_chunks = None
      
        # Scatter data to all processes
        local_X = self.comm.scatter(data_chunks, root=0)
        local_y = self.comm.scatter(label_chunks, root=0)
      
        print(f"Process {self.rank}: Received {local_X.shape[0]} samples")
      
        # Each process trains on local data
        model = LinearRegression()
        model.fit(local_X, local_y)
      
        local_score = model.score(local_X, local_y)
        print(f"Process {self.rank}: Local R² score: {local_score:.4f}")
      
        # Gather model parameters for ensemble
        local_coef = model.coef_
        local_intercept = model.intercept_
      
        all_coefs = self.comm.gather(local_coef, root=0)
        all_intercepts = self.comm.gather(local_intercept, root=0)
      
        if self.rank == 0:
            # Average the models (simple ensemble)
            ensemble_coef = np.mean(all_coefs, axis=0)
            ensemble_intercept = np.mean(all_intercepts)
          
            print(f"Ensemble model created from {self.size} local models")
          
            # Test ensemble on full dataset
            X, y = datasets.make_regression(
                n_samples=1000, 
                n_features=100, 
                noise=0.1, 
                random_state=123  # Different test set
            )
          
            ensemble_predictions = X @ ensemble_coef + ensemble_intercept
            ensemble_score = 1 - np.sum((y - ensemble_predictions) ** 2) / np.sum((y - np.mean(y)) ** 2)
            print(f"Ensemble R² score on test data: {ensemble_score:.4f}")
  
    def distributed_sparse_operations(self):
        """Distributed sparse matrix operations"""
        if not SCIPY_AVAILABLE:
            if self.rank == 0:
                print("SciPy not available, skipping sparse demo")
            return
      
        # Create distributed sparse matrix
        local_size = 1000
        density = 0.01  # 1% non-zero elements
      
        # Each process creates a sparse matrix block
        local_sparse = sp.random(local_size, local_size, density=density, format='csr')
      
        print(f"Process {self.rank}: Sparse matrix {local_sparse.shape}, "
              f"{local_sparse.nnz} non-zeros ({local_sparse.nnz/local_sparse.size*100:.2f}% density)")
      
        # Sparse matrix-vector multiplication
        vector = np.random.rand(local_size)
        result = local_sparse.dot(vector)
      
        # Gather statistics
        local_nnz = local_sparse.nnz
        total_nnz = self.comm.reduce(local_nnz, op=MPI.SUM, root=0)
      
        if self.rank == 0:
            print(f"Total non-zeros across all processes: {total_nnz:,}")
  
    def distributed_fft(self):
        """Distributed Fast Fourier Transform"""
        # Generate signal data
        N = 4096  # Total signal length
        local_N = N // self.size
      
        # Each process generates part of the signal
        t_local = np.linspace(
            self.rank * local_N / N, 
            (self.rank + 1) * local_N / N, 
            local_N, 
            endpoint=False
        )
      
        # Composite signal: sum of multiple frequencies
        frequency1, frequency2 = 50, 120  # Hz
        local_signal = (np.sin(2 * np.pi * frequency1 * t_local) + 
                       0.5 * np.sin(2 * np.pi * frequency2 * t_local) +
                       0.1 * np.random.randn(local_N))  # Add noise
      
        print(f"Process {self.rank}: Generated {local_N} signal samples")
      
        # Local FFT
        local_fft = np.fft.fft(local_signal)
      
        # For true distributed FFT, we'd need more complex all-to-all communication
        # This is a simplified version showing parallel processing
      
        # Gather frequency magnitudes for analysis
        local_magnitude = np.abs(local_fft)
        all_magnitudes = self.comm.gather(local_magnitude, root=0)
      
        if self.rank == 0:
            # Combine results
            full_magnitude = np.concatenate(all_magnitudes)
          
            # Find dominant frequencies
            freqs = np.fft.fftfreq(N, d=1/N)
            dominant_indices = np.argsort(full_magnitude)[-10:]  # Top 10 frequencies
          
            print("Top frequency components:")
            for idx in reversed(dominant_indices):
                if freqs[idx] >= 0:  # Only positive frequencies
                    print(f"  {freqs[idx]:.1f} Hz: magnitude {full_magnitude[idx]:.2f}")

def run_scientific_computing_demo():
    """Run all scientific computing demonstrations"""
    sci_comp = DistributedScientificComputing()
  
    print("=== Distributed Linear Algebra ===")
    sci_comp.distributed_linear_algebra()
  
    print("\n=== Distributed Machine Learning ===")
    sci_comp.distributed_machine_learning()
  
    print("\n=== Distributed Sparse Operations ===")
    sci_comp.distributed_sparse_operations()
  
    print("\n=== Distributed FFT ===")
    sci_comp.distributed_fft()

if __name__ == "__main__":
    run_scientific_computing_demo()
