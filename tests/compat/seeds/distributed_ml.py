# distributed_ml.py - Practical distributed machine learning
from mpi4py import MPI
import numpy as np
import time

class DistributedNeuralNetwork:
    """Simple distributed neural network for demonstration"""
  
    def __init__(self, input_size, hidden_size, output_size, learning_rate=0.01):
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
      
        # Initialize weights (same seed for consistency)
        np.random.seed(42)
        self.W1 = np.random.randn(input_size, hidden_size) * 0.1
        self.b1 = np.zeros((1, hidden_size))
        self.W2 = np.random.randn(hidden_size, output_size) * 0.1
        self.b2 = np.zeros((1, output_size))
      
        self.learning_rate = learning_rate
      
        print(f"Process {self.rank}: Initialized NN with {input_size}→{hidden_size}→{output_size}")
  
    def sigmoid(self, x):
        """Sigmoid activation function"""
        return 1 / (1 + np.exp(-np.clip(x, -250, 250)))  # Clip to prevent overflow
  
    def forward(self, X):
        """Forward pass"""
        self.z1 = np.dot(X, self.W1) + self.b1
        self.a1 = self.sigmoid(self.z1)
        self.z2 = np.dot(self.a1, self.W2) + self.b2
        self.a2 = self.sigmoid(self.z2)
        return self.a2
  
    def backward(self, X, y, output):
        """Backward pass - compute gradients"""
        m = X.shape[0]  # batch size
      
        # Output layer gradients
        dz2 = output - y
        dW2 = np.dot(self.a1.T, dz2) / m
        db2 = np.sum(dz2, axis=0, keepdims=True) / m
      
        # Hidden layer gradients
        da1 = np.dot(dz2, self.W2.T)
        dz1 = da1 * self.a1 * (1 - self.a1)
        dW1 = np.dot(X.T, dz1) / m
        db1 = np.sum(dz1, axis=0, keepdims=True) / m
      
        return dW1, db1, dW2, db2
  
    def compute_loss(self, y_true, y_pred):
        """Compute binary cross-entropy loss"""
        epsilon = 1e-15  # Prevent log(0)
        y_pred = np.clip(y_pred, epsilon, 1 - epsilon)
        return -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
  
    def parameter_server_update(self, local_gradients):
        """Parameter server approach - collect and average gradients"""
        dW1, db1, dW2, db2 = local_gradients
      
        # Gather gradients from all processes
        all_dW1 = self.comm.gather(dW1, root=0)
        all_db1 = self.comm.gather(db1, root=0)
        all_dW2 = self.comm.gather(dW2, root=0)
        all_db2 = self.comm.gather(db2, root=0)
      
        if self.rank == 0:
            # Average gradients
            avg_dW1 = np.mean(all_dW1, axis=0)
            avg_db1 = np.mean(all_db1, axis=0)
            avg_dW2 = np.mean(all_dW2, axis=0)
            avg_db2 = np.mean(all_db2, axis=0)
          
            # Update parameters
            self.W1 -= self.learning_rate * avg_dW1
            self.b1 -= self.learning_rate * avg_db1
            self.W2 -= self.learning_rate * avg_dW2
            self.b2 -= self.learning_rate * avg_db2
          
            # Broadcast updated parameters
            updated_params = (self.W1, self.b1, self.W2, self.b2)
        else:
            updated_params = None
      
        # All processes receive updated parameters
        self.W1, self.b1, self.W2, self.b2 = self.comm.bcast(updated_params, root=0)
  
    def allreduce_update(self, local_gradients):
        """AllReduce approach - more efficient for smaller clusters"""
        dW1, db1, dW2, db2 = local_gradients
      
        # Average gradients across all processes
        avg_dW1 = self.comm.allreduce(dW1, op=MPI.SUM) / self.size
        avg_db1 = self.comm.allreduce(db1, op=MPI.SUM) / self.size
        avg_dW2 = self.comm.allreduce(dW2, op=MPI.SUM) / self.size
        avg_db2 = self.comm.allreduce(db2, op=MPI.SUM) / self.size
      
        # Update parameters
        self.W1 -= self.learning_rate * avg_dW1
        self.b1 -= self.learning_rate * avg_db1
        self.W2 -= self.learning_rate * avg_dW2
        self.b2 -= self.learning_rate * avg_db2
  
    def train_distributed(self, X_train, y_train, epochs=100, batch_size=32, method='allreduce'):
        """Train the network using distributed data parallelism"""
        print(f"Process {self.rank}: Training with {len(X_train)} samples for {epochs} epochs")
      
        # Training loop
        for epoch in range(epochs):
            epoch_loss = 0
            num_batches = 0
          
            # Shuffle data (each process independently - creates diversity)
            indices = np.random.permutation(len(X_train))
            X_shuffled = X_train[indices]
            y_shuffled = y_train[indices]
          
            # Process mini-batches
            for i in range(0, len(X_train), batch_size):
                batch_X = X_shuffled[i:i + batch_size]
                batch_y = y_shuffled[i:i + batch_size]
              
                if len(batch_X) == 0:
                    continue
              
                # Forward pass
                output = self.forward(batch_X)
              
                # Compute loss
                loss = self.compute_loss(batch_y, output)
                epoch_loss += loss
                num_batches += 1
              
                # Backward pass
                gradients = self.backward(batch_X, batch_y, output)
              
                # Update parameters using chosen method
                if method == 'parameter_server':
                    self.parameter_server_update(gradients)
                else:  # allreduce
                    self.allreduce_update(gradients)
          
            # Calculate average loss for this epoch
            avg_loss = epoch_loss / num_batches if num_batches > 0 else 0
          
            # Gather loss from all processes for monitoring
            all_losses = self.comm.gather(avg_loss, root=0)
          
            if self.rank == 0 and epoch % 10 == 0:
                global_avg_loss = np.mean(all_losses)
                print(f"Epoch {epoch}: Global average loss = {global_avg_loss:.4f}")
  
    def evaluate(self, X_test, y_test):
        """Evaluate the model"""
        predictions = self.forward(X_test)
        predicted_classes = (predictions > 0.5).astype(int)
        accuracy = np.mean(predicted_classes == y_test)
      
        # Gather accuracies from all processes
        all_accuracies = self.comm.gather(accuracy, root=0)
      
        if self.rank == 0:
            global_accuracy = np.mean(all_accuracies)
            print(f"Global test accuracy: {global_accuracy:.4f}")
            return global_accuracy
      
        return accuracy

def generate_distributed_dataset():
    """Generate a synthetic dataset distributed across processes"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = comm.Get_size()
  
    # Generate different data on each process to simulate real distributed scenario
    np.random.seed(rank + 100)  # Different seed per process
  
    samples_per_process = 1000
    features = 20
  
    # Generate synthetic classification data
    X = np.random.randn(samples_per_process, features)
  
    # Create a complex decision boundary
    true_weights = np.random.randn(features)
    decision_boundary = np.dot(X, true_weights) + np.random.randn(samples_per_process) * 0.1
    y = (decision_boundary > 0).astype(int).reshape(-1, 1)
  
    print(f"Process {rank}: Generated {samples_per_process} samples with {features} features")
    print(f"Process {rank}: Class distribution: {np.mean(y):.2f} positive examples")
  
    return X, y

def distributed_ml_demo():
    """Demonstrate distributed machine learning"""
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
  
    print(f"=== Distributed ML Demo - Process {rank} ===")
  
    # Generate distributed dataset
    X_train, y_train = generate_distributed_dataset()
  
    # Create neural network
    nn = DistributedNeuralNetwork(
        input_size=X_train.shape[1],
        hidden_size=10,
        output_size=1,
        learning_rate=0.1
    )
  
    # Train using AllReduce (more efficient for small clusters)
    print(f"\nProcess {rank}: Training with AllReduce...")
    start_time = time.time()
    nn.train_distributed(X_train, y_train, epochs=50, method='allreduce')
    training_time = time.time() - start_time
  
    if rank == 0:
        print(f"Training completed in {training_time:.2f} seconds")
  
    # Generate test data (same across all processes for fair evaluation)
    np.random.seed(999)  # Same seed for all processes
    X_test, y_test = generate_distributed_dataset()
  
    # Evaluate model
    print(f"\nProcess {rank}: Evaluating model...")
    nn.evaluate(X_test, y_test)

if __name__ == "__main__":
    distributed_ml_demo()
