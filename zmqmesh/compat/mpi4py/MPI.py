"""Message Passing Interface: mpi4py's ``MPI`` module, on zmqmesh.

Under ``zmqmesh launch --mpi4py`` this module is ``mpi4py.MPI``. It only
gathers the public names; the layer lives in modules by subject:
``datatypes`` and ``typemap`` (datatypes and their packing), ``msgspec``
(buffer specifications), ``requests`` (``Status``, ``Request``), ``ops``,
``comm`` (communicators, point to point), ``collectives``, ``topo``
(process topologies, with ``topospec`` and ``neighbor``), ``win``
(one-sided windows, with ``winops``, ``winserve``, ``winmem`` and
``winlock``), ``objects``
(``Info``, ``Errhandler`` and the handles not implemented), ``environment``
and ``constants``. Blocking calls run the layer's event loop (``runner``)
until they complete. What is not covered raises ``NotImplementedError``
naming the call, never a silent difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zmqmesh.compat.mpi4py import constants as _constants
from zmqmesh.compat.mpi4py import datatypes as _datatypes
from zmqmesh.compat.mpi4py import intergroup as _intergroup  # (installs Create_from_group(s))
from zmqmesh.compat.mpi4py import ops as _ops
from zmqmesh.compat.mpi4py import spawn as _spawn  # (installs Spawn, Get_parent)
from zmqmesh.compat.mpi4py.bsend import (
    Attach_buffer as Attach_buffer,
)
from zmqmesh.compat.mpi4py.bsend import (
    Detach_buffer as Detach_buffer,
)
from zmqmesh.compat.mpi4py.bsend import (
    Flush_buffer as Flush_buffer,
)
from zmqmesh.compat.mpi4py.bsend import (
    Iflush_buffer as Iflush_buffer,
)
from zmqmesh.compat.mpi4py.comm import (
    COMM_NULL as COMM_NULL,
)
from zmqmesh.compat.mpi4py.comm import (
    COMM_SELF as COMM_SELF,
)
from zmqmesh.compat.mpi4py.comm import (
    COMM_WORLD as COMM_WORLD,
)
from zmqmesh.compat.mpi4py.comm import (
    Comm as Comm,
)
from zmqmesh.compat.mpi4py.comm import (
    Intracomm as Intracomm,
)
from zmqmesh.compat.mpi4py.comm import _comm_lock as _comm_lock
from zmqmesh.compat.mpi4py.comm import _comm_lock_table as _comm_lock_table
from zmqmesh.compat.mpi4py.datatypes import (
    DATATYPE_NULL as DATATYPE_NULL,
)
from zmqmesh.compat.mpi4py.datatypes import (
    Datatype as Datatype,
)
from zmqmesh.compat.mpi4py.environment import (
    Alloc_mem as Alloc_mem,
)
from zmqmesh.compat.mpi4py.environment import (
    Compute_dims as Compute_dims,
)
from zmqmesh.compat.mpi4py.environment import (
    Finalize as Finalize,
)
from zmqmesh.compat.mpi4py.environment import (
    Free_mem as Free_mem,
)
from zmqmesh.compat.mpi4py.environment import (
    Get_library_version as Get_library_version,
)
from zmqmesh.compat.mpi4py.environment import (
    Get_processor_name as Get_processor_name,
)
from zmqmesh.compat.mpi4py.environment import (
    Get_version as Get_version,
)
from zmqmesh.compat.mpi4py.environment import (
    Init as Init,
)
from zmqmesh.compat.mpi4py.environment import (
    Init_thread as Init_thread,
)
from zmqmesh.compat.mpi4py.environment import (
    Is_finalized as Is_finalized,
)
from zmqmesh.compat.mpi4py.environment import (
    Is_initialized as Is_initialized,
)
from zmqmesh.compat.mpi4py.environment import (
    Is_thread_main as Is_thread_main,
)
from zmqmesh.compat.mpi4py.environment import (
    Pcontrol as Pcontrol,
)
from zmqmesh.compat.mpi4py.environment import (
    Query_thread as Query_thread,
)
from zmqmesh.compat.mpi4py.environment import (
    Wtick as Wtick,
)
from zmqmesh.compat.mpi4py.environment import (
    Wtime as Wtime,
)
from zmqmesh.compat.mpi4py.environment import (
    _set_abort_status as _set_abort_status,
)
from zmqmesh.compat.mpi4py.environment import (
    buffer as buffer,
)
from zmqmesh.compat.mpi4py.environment import (
    get_vendor as get_vendor,
)
from zmqmesh.compat.mpi4py.environment import (
    memory as memory,
)
from zmqmesh.compat.mpi4py.environment import started as _started
from zmqmesh.compat.mpi4py.exceptions import (
    Add_error_class as Add_error_class,
)
from zmqmesh.compat.mpi4py.exceptions import (
    Add_error_code as Add_error_code,
)
from zmqmesh.compat.mpi4py.exceptions import (
    Add_error_string as Add_error_string,
)
from zmqmesh.compat.mpi4py.exceptions import (
    Exception as Exception,
)
from zmqmesh.compat.mpi4py.exceptions import (
    Get_error_class as Get_error_class,
)
from zmqmesh.compat.mpi4py.exceptions import (
    Get_error_string as Get_error_string,
)
from zmqmesh.compat.mpi4py.grequests import (
    Grequest as Grequest,
)
from zmqmesh.compat.mpi4py.groups import GROUP_EMPTY as GROUP_EMPTY
from zmqmesh.compat.mpi4py.groups import GROUP_NULL as GROUP_NULL
from zmqmesh.compat.mpi4py.groups import Group as Group
from zmqmesh.compat.mpi4py.handles import (
    BOTTOM as BOTTOM,
)
from zmqmesh.compat.mpi4py.handles import (
    BUFFER_AUTOMATIC as BUFFER_AUTOMATIC,
)
from zmqmesh.compat.mpi4py.handles import (
    IN_PLACE as IN_PLACE,
)
from zmqmesh.compat.mpi4py.handles import (
    BottomType as BottomType,
)
from zmqmesh.compat.mpi4py.handles import (
    BufferAutomaticType as BufferAutomaticType,
)
from zmqmesh.compat.mpi4py.handles import Handle as _Handle
from zmqmesh.compat.mpi4py.handles import (
    InPlaceType as InPlaceType,
)
from zmqmesh.compat.mpi4py.inter import (
    Intercomm as Intercomm,
)
from zmqmesh.compat.mpi4py.interport import Close_port as Close_port
from zmqmesh.compat.mpi4py.interport import Lookup_name as Lookup_name
from zmqmesh.compat.mpi4py.interport import Open_port as Open_port
from zmqmesh.compat.mpi4py.interport import Publish_name as Publish_name
from zmqmesh.compat.mpi4py.interport import Unpublish_name as Unpublish_name
from zmqmesh.compat.mpi4py.matched import (
    MESSAGE_NO_PROC as MESSAGE_NO_PROC,
)
from zmqmesh.compat.mpi4py.matched import (
    MESSAGE_NULL as MESSAGE_NULL,
)
from zmqmesh.compat.mpi4py.matched import (
    Message as Message,
)
from zmqmesh.compat.mpi4py.msgspec import Get_address as Get_address
from zmqmesh.compat.mpi4py.objects import (
    ERRHANDLER_NULL as ERRHANDLER_NULL,
)
from zmqmesh.compat.mpi4py.objects import (
    ERRORS_ABORT as ERRORS_ABORT,
)
from zmqmesh.compat.mpi4py.objects import (
    ERRORS_ARE_FATAL as ERRORS_ARE_FATAL,
)
from zmqmesh.compat.mpi4py.objects import (
    ERRORS_RETURN as ERRORS_RETURN,
)
from zmqmesh.compat.mpi4py.objects import (
    FILE_NULL as FILE_NULL,
)
from zmqmesh.compat.mpi4py.objects import (
    INFO_ENV as INFO_ENV,
)
from zmqmesh.compat.mpi4py.objects import (
    INFO_NULL as INFO_NULL,
)
from zmqmesh.compat.mpi4py.objects import (
    Errhandler as Errhandler,
)
from zmqmesh.compat.mpi4py.objects import (
    File as File,
)
from zmqmesh.compat.mpi4py.objects import (
    Info as Info,
)
from zmqmesh.compat.mpi4py.ops import (
    OP_NULL as OP_NULL,
)
from zmqmesh.compat.mpi4py.ops import (
    Op as Op,
)
from zmqmesh.compat.mpi4py.options import at_import as _rc_at_import
from zmqmesh.compat.mpi4py.pickling import Pickle as Pickle
from zmqmesh.compat.mpi4py.pickling import pickle as pickle
from zmqmesh.compat.mpi4py.requests import (
    REQUEST_NULL as REQUEST_NULL,
)
from zmqmesh.compat.mpi4py.requests import (
    Prequest as Prequest,
)
from zmqmesh.compat.mpi4py.requests import (
    Request as Request,
)
from zmqmesh.compat.mpi4py.requests import (
    Status as Status,
)
from zmqmesh.compat.mpi4py.runner import unsupported as _unsupported
from zmqmesh.compat.mpi4py.session import (
    SESSION_NULL as SESSION_NULL,
)
from zmqmesh.compat.mpi4py.session import (
    Session as Session,
)
from zmqmesh.compat.mpi4py.topo import Cartcomm as Cartcomm
from zmqmesh.compat.mpi4py.topo import Distgraphcomm as Distgraphcomm
from zmqmesh.compat.mpi4py.topo import Graphcomm as Graphcomm
from zmqmesh.compat.mpi4py.topo import Topocomm as Topocomm
from zmqmesh.compat.mpi4py.win import WIN_NULL as WIN_NULL
from zmqmesh.compat.mpi4py.win import Win as Win

# Every integer constant, every predefined datatype and op, by mpi4py's names.
_CONSTANTS = {k: v for k, v in vars(_constants).items() if k.isupper() and k != "ERROR_STRINGS"}
globals().update(_CONSTANTS)
globals().update(_datatypes.PREDEFINED)
globals().update(_ops.PREDEFINED_OPS)

_typedict = _datatypes.typedict
_typedict_c = _datatypes.typedict_c
_typedict_f = _datatypes.typedict_f
_typecode = _datatypes.typecode


def _typealign(datatype: Datatype) -> int | None:
    """The C alignment of a predefined datatype; None for a derived one."""
    from zmqmesh.compat.mpi4py.util.dtlib import typealign

    return typealign(datatype)


# No module and no foreign class among the names: mpi4py's module holds
# none, and programs (and its tests) walk the namespace.
del _constants, _datatypes, _intergroup, _ops, _spawn

if TYPE_CHECKING:
    from typing import Any


def Aint_add(base: int, disp: int) -> int:
    """The address ``base`` displaced by ``disp`` bytes."""
    return int(base) + int(disp)


def Aint_diff(addr1: int, addr2: int) -> int:
    """The difference in bytes between two addresses."""
    return int(addr1) - int(addr2)


Remove_error_class = Remove_error_code = Remove_error_string = _unsupported(
    "Remove_error_class", "MPI 4.1; the layer reports 4.0"
)
Register_datarep = _unsupported("Register_datarep", "MPI-IO")
Get_hw_resource_info = _unsupported("Get_hw_resource_info", "MPI 4.1; the layer reports 4.0")
_addressof = _unsupported("_addressof", "the C API: handles are Python objects here")


def _handleof(obj: Any) -> int:
    """Return the handle integer of a handle object (as ``obj.handle``).

    For a ``Status``, a number that names its memory while it lives (as
    the address mpi4py gives)."""
    if isinstance(obj, Status):
        return id(obj)
    if not isinstance(obj, _Handle):
        raise TypeError(f"expecting an MPI handle, not {type(obj).__name__}")
    return int(obj.handle)


def _sizeof(obj: Any) -> int:
    """Return the size in bytes of the C type of a handle or a status.

    A handle is an int, as MPICH's; ``MPI_Status`` is five ints. For an
    object or its class."""
    kind = obj if isinstance(obj, type) else type(obj)
    if issubclass(kind, Status):
        return 5 * _C_INT
    if issubclass(kind, _Handle):
        return _C_INT
    raise TypeError(f"expecting an MPI type or instance, not {kind.__name__}")


_C_INT = 4  # sizeof(int), MPICH's handle type

# mpi4py.rc and the MPI4PY_RC_* variables, read as mpi4py reads them at this import
_started(_rc_at_import())


# Docstrings begin with the signature, as mpi4py's compiled ones do (docsig.py).
from zmqmesh.compat.mpi4py import docsig as _docsig  # noqa: E402

_docsig.embed(globals(), "zmqmesh.compat.mpi4py")
del _docsig
