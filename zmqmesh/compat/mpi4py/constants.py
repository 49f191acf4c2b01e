"""mpi4py's module-level integer constants.

The values are MPICH's (ABI 4.0), so that a program that prints one shows
what it shows under MPICH. Constants of parts zmqmesh does not implement
(one-sided windows, MPI-IO, spawning) are defined too: programs and test
suites read them at import time, and the calls that use them raise
``NotImplementedError``.
"""

from __future__ import annotations

# -- versions, ranks, tags --------------------------------------------------------------
VERSION, SUBVERSION = 4, 0
ANY_SOURCE = -2
ANY_TAG = -1
PROC_NULL = -1
ROOT = -3
UNDEFINED = -32766
# attribute keys (Comm.Get_attr(TAG_UB) answers the runtime's largest tag)
KEYVAL_INVALID = 603979776
TAG_UB = 1681915905
IO = 1681915909
WTIME_IS_GLOBAL = 1681915911
UNIVERSE_SIZE = 1681915913
APPNUM = 1681915917
LASTUSEDCODE = 1681915915
BSEND_OVERHEAD = 96

# -- threads ---------------------------------------------------------------------------------
THREAD_SINGLE, THREAD_FUNNELED, THREAD_SERIALIZED, THREAD_MULTIPLE = 0, 1, 2, 3

# -- comparisons, topologies, split types ------------------------------------------------------
IDENT, CONGRUENT, SIMILAR, UNEQUAL = 0, 1, 2, 3
GRAPH, CART, DIST_GRAPH = 1, 2, 3
# graph weights: distinct integers, as mpi4py's (addresses of MPICH's markers there)
UNWEIGHTED, WEIGHTS_EMPTY = 0x7F00_0000_0004, 0x7F00_0000_0000
COMM_TYPE_SHARED, COMM_TYPE_HW_GUIDED, COMM_TYPE_HW_UNGUIDED = 1, 2, 3
COMM_TYPE_RESOURCE_GUIDED = -32766

# -- datatypes ---------------------------------------------------------------------------------
ORDER_C, ORDER_F = 56, 57
ORDER_FORTRAN = ORDER_F
DISTRIBUTE_BLOCK, DISTRIBUTE_CYCLIC, DISTRIBUTE_NONE = 121, 122, 123
DISTRIBUTE_DFLT_DARG = -49767
TYPECLASS_REAL, TYPECLASS_INTEGER, TYPECLASS_COMPLEX, TYPECLASS_LOGICAL = 1, 2, 3, 4
COMBINER_NAMED = 1
COMBINER_DUP = 2
COMBINER_CONTIGUOUS = 3
COMBINER_VECTOR = 4
COMBINER_HVECTOR = 6
COMBINER_INDEXED = 7
COMBINER_HINDEXED = 9
COMBINER_INDEXED_BLOCK = 10
COMBINER_STRUCT = 12
COMBINER_SUBARRAY = 13
COMBINER_DARRAY = 14
COMBINER_F90_REAL = 15
COMBINER_F90_COMPLEX = 16
COMBINER_F90_INTEGER = 17
COMBINER_RESIZED = 18
COMBINER_HINDEXED_BLOCK = 19
COMBINER_VALUE_INDEX = 1

# -- one-sided, I/O (their calls are not implemented) -------------------------------------------
LOCK_EXCLUSIVE, LOCK_SHARED = 234, 235
MODE_NOCHECK, MODE_NOSTORE, MODE_NOPUT = 1024, 2048, 4096
MODE_NOPRECEDE, MODE_NOSUCCEED = 8192, 16384
MODE_CREATE, MODE_RDONLY, MODE_WRONLY, MODE_RDWR = 1, 2, 4, 8
MODE_DELETE_ON_CLOSE, MODE_UNIQUE_OPEN, MODE_EXCL = 16, 32, 64
MODE_APPEND, MODE_SEQUENTIAL = 128, 256
SEEK_SET, SEEK_CUR, SEEK_END = 600, 602, 604
DISPLACEMENT_CURRENT = DISP_CUR = -54278278
WIN_BASE, WIN_SIZE, WIN_DISP_UNIT = 1711276033, 1711276035, 1711276037
WIN_CREATE_FLAVOR = WIN_FLAVOR = 1711276039
WIN_MODEL = 1711276041
WIN_FLAVOR_CREATE, WIN_FLAVOR_ALLOCATE, WIN_FLAVOR_DYNAMIC, WIN_FLAVOR_SHARED = 1, 2, 3, 4
WIN_SEPARATE, WIN_UNIFIED = 1, 2
F_SOURCE, F_TAG, F_ERROR, F_STATUS_SIZE = 2, 3, 4, 5

# -- limits ------------------------------------------------------------------------------------
MAX_PROCESSOR_NAME = 128
MAX_ERROR_STRING = 512
MAX_PORT_NAME = 1024
MAX_INFO_KEY = 255
MAX_INFO_VAL = 1024
MAX_OBJECT_NAME = 128
MAX_DATAREP_STRING = 128
MAX_LIBRARY_VERSION_STRING = 8192
MAX_PSET_NAME_LEN = 256
MAX_STRINGTAG_LEN = 256

# -- error classes ---------------------------------------------------------------------------
SUCCESS = 0
ERR_BUFFER = 1
ERR_COUNT = 2
ERR_TYPE = 3
ERR_TAG = 4
ERR_COMM = 5
ERR_RANK = 6
ERR_ROOT = 7
ERR_GROUP = 8
ERR_OP = 9
ERR_TOPOLOGY = 10
ERR_DIMS = 11
ERR_ARG = 12
ERR_UNKNOWN = 13
ERR_PROC_FAILED = ERR_PROC_FAILED_PENDING = ERR_REVOKED = 13
ERR_TRUNCATE = 14
ERR_OTHER = 15
ERR_INTERN = 16
ERR_IN_STATUS = 17
ERR_PENDING = 18
ERR_REQUEST = 19
ERR_ACCESS = 20
ERR_AMODE = 21
ERR_BAD_FILE = 22
ERR_CONVERSION = 23
ERR_DUP_DATAREP = 24
ERR_FILE_EXISTS = 25
ERR_FILE_IN_USE = 26
ERR_FILE = 27
ERR_INFO = 28
ERR_INFO_KEY = 29
ERR_INFO_VALUE = 30
ERR_INFO_NOKEY = 31
ERR_IO = 32
ERR_NAME = 33
ERR_NO_MEM = 34
ERR_NOT_SAME = 35
ERR_NO_SPACE = 36
ERR_NO_SUCH_FILE = 37
ERR_PORT = 38
ERR_QUOTA = 39
ERR_READ_ONLY = 40
ERR_SERVICE = 41
ERR_SPAWN = 42
ERR_UNSUPPORTED_DATAREP = 43
ERR_UNSUPPORTED_OPERATION = 44
ERR_WIN = 45
ERR_BASE = 46
ERR_LOCKTYPE = 47
ERR_KEYVAL = 48
ERR_RMA_CONFLICT = 49
ERR_RMA_SYNC = 50
ERR_SIZE = 51
ERR_DISP = 52
ERR_ASSERT = 53
ERR_RMA_RANGE = 55
ERR_RMA_ATTACH = 56
ERR_RMA_SHARED = 57
ERR_RMA_FLAVOR = 58
ERR_SESSION = 75
ERR_PROC_ABORTED = 76
ERR_VALUE_TOO_LARGE = 77
ERR_ABI = ERR_ERRHANDLER = ERR_LASTCODE = 1073741823

ERROR_STRINGS = {
    SUCCESS: "No MPI error",
    ERR_BUFFER: "Invalid buffer pointer",
    ERR_COUNT: "Invalid count",
    ERR_TYPE: "Invalid datatype",
    ERR_TAG: "Invalid tag",
    ERR_COMM: "Invalid communicator",
    ERR_RANK: "Invalid rank",
    ERR_ROOT: "Invalid root",
    ERR_GROUP: "Invalid group",
    ERR_OP: "Invalid MPI_Op",
    ERR_TOPOLOGY: "Invalid topology",
    ERR_DIMS: "Invalid dimension argument",
    ERR_ARG: "Invalid argument",
    ERR_UNKNOWN: "Unknown error",
    ERR_TRUNCATE: "Message truncated",
    ERR_OTHER: "Other MPI error",
    ERR_INTERN: "Internal MPI error!",
    ERR_IN_STATUS: "See the MPI_ERROR field in MPI_Status for the error code",
    ERR_PENDING: "Pending request (no error)",
    ERR_REQUEST: "Invalid MPI_Request",
    ERR_NO_MEM: "Out of memory",
    ERR_UNSUPPORTED_OPERATION: "Unsupported operation",
}
