"""The launcher: starts the ranks of a job on this machine and watches them.

``cli`` is the ``zmqmesh`` command; ``spawn`` runs a job (processes, output,
signals, clean-up); ``policy`` decides, without I/O, what a rank's failure,
the timeout or a signal does to the job; ``output`` cuts rank output into
prefixed whole lines. All of these are internal; the command is the interface.
"""
