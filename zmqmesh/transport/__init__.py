"""The only package that touches sockets: ZeroMQ ROUTER/DEALER with CURVE
between hosts, AF_UNIX links and shared memory on one host, the rendezvous."""
