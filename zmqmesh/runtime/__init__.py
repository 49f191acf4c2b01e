"""The I/O layer: the only package that touches ZeroMQ sockets."""
