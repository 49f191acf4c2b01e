"""``mpi4py.util.dtlib``: NumPy dtypes become MPI datatypes covering the
same bytes and come back as the same layout; what has no counterpart is
refused with a clear error; a converted type carries records between
real ranks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import launch

from zmqmesh.compat.mpi4py import MPI
from zmqmesh.compat.mpi4py.util.dtlib import from_numpy_dtype, to_numpy_dtype

pytestmark = pytest.mark.timeout(60)

DTYPES: list[Any] = [
    "i1", "u2", "i4", "i8", "f4", "f8", "c8", "c16", "?", "S1", "S7", "U3",
    ("f8", (3,)),
    ("i4", (2, 3)),
    [("a", "i4"), ("b", "f8")],
    np.dtype([("a", "i1"), ("b", "f8", (2,))], align=True),
    {"names": ["x"], "formats": ["i2"], "offsets": [4], "itemsize": 12},
    [("p", [("x", "f4"), ("y", "f4")]), ("n", "i8"), ("s", "S3")],
]  # fmt: skip


def _layout(dt: np.dtype[Any]) -> Any:
    """A dtype's layout without its field names (MPI types have none); n
    one-byte characters are a string of n (mpi4py's way back from one)."""
    if dt.names is None:
        if dt.subdtype is not None:
            base, shape = dt.subdtype
            if base.str == "|S1" and len(shape) == 1:
                return f"|S{shape[0]}"
            return (_layout(base), shape)
        return dt.str
    fields = [dt.fields[n] for n in dt.names]  # type: ignore[index]
    return ([(f[1], _layout(f[0])) for f in fields], dt.itemsize)


@pytest.mark.parametrize("spec", DTYPES, ids=str)
def test_a_dtype_round_trips_and_covers_its_bytes(spec: Any) -> None:
    dt = np.dtype(spec)
    made = from_numpy_dtype(dt)
    assert made.Get_extent() == (0, dt.itemsize)
    back = to_numpy_dtype(made)
    assert _layout(back) == _layout(dt)
    assert back.itemsize == dt.itemsize


def test_basic_types_are_duplicates_of_the_predefined_ones() -> None:
    for spec, named in (("i4", MPI.INT), (np.float64, MPI.DOUBLE), ("c16", MPI.C_DOUBLE_COMPLEX)):
        made = from_numpy_dtype(spec)
        assert made.combiner == MPI.COMBINER_DUP  # as mpi4py's
        assert made.decode()[0] == named
    assert to_numpy_dtype(MPI.FLOAT) == np.dtype("f4")
    assert to_numpy_dtype(MPI.INT.Dup()) == np.dtype("i4")
    assert MPI._typealign(MPI.DOUBLE) == np.dtype("f8").alignment
    assert MPI._typealign(MPI.DOUBLE_INT) == np.dtype("f8,i", align=True).alignment
    assert MPI._typealign(MPI.INT.Create_contiguous(2)) is None


def test_derived_types_become_their_layouts() -> None:
    vec = to_numpy_dtype(MPI.INT.Create_vector(2, 3, 4))
    assert _layout(vec) == ([(0, ("<i4", (3,))), (16, ("<i4", (3,)))], 28)
    pair = to_numpy_dtype(MPI.FLOAT_INT)
    assert _layout(pair) == ([(0, "<f4"), (4, "<i4")], 8)
    assert to_numpy_dtype(MPI.INT.Create_subarray([2, 3], [2, 3], [0, 0])) == np.dtype(
        ("i4", (2, 3))
    )
    aligned = to_numpy_dtype(MPI.Datatype.Create_struct([1, 1], [0, 8], [MPI.INT, MPI.DOUBLE]))
    assert aligned.isalignedstruct
    packed = to_numpy_dtype(MPI.Datatype.Create_struct([1, 1], [0, 4], [MPI.INT, MPI.DOUBLE]))
    assert not packed.isalignedstruct
    # NumPy has no dtype for a partial subarray or a resized basic type (as mpi4py)
    for made in (MPI.INT.Create_subarray([4, 4], [2, 2], [1, 1]), MPI.DOUBLE.Create_resized(0, 16)):
        with pytest.raises(ValueError, match="cannot convert"):
            to_numpy_dtype(made)


@pytest.mark.parametrize(
    ("bad", "error", "says"),
    [
        (object, ValueError, "holds objects"),
        (">i4", ValueError, "byte order is not native"),
        (42, TypeError, "not a NumPy dtype"),
    ],
)
def test_from_numpy_dtype_refuses_what_mpi_cannot_describe(
    bad: Any, error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        from_numpy_dtype(bad)


def test_to_numpy_dtype_refuses_null_negative_offsets_and_non_types() -> None:
    with pytest.raises(ValueError, match="null MPI datatype"):
        to_numpy_dtype(MPI.DATATYPE_NULL)
    with pytest.raises(ValueError, match="offset"):  # a field before the record's start
        to_numpy_dtype(MPI.INT.Create_hvector(2, 1, -8))
    with pytest.raises(TypeError, match=r"not an MPI\.Datatype"):
        to_numpy_dtype("i4")  # type: ignore[arg-type]


def test_a_converted_type_carries_records_between_ranks(tmp_path: Path) -> None:
    prog = tmp_path / "records.py"
    prog.write_text(
        "import numpy as np\n"
        "from mpi4py import MPI\n"
        "from mpi4py.util import dtlib\n"
        "dt = np.dtype([('id', 'i4'), ('pos', 'f8', (3,)), ('tag', 'S4')], align=True)\n"
        "t = dtlib.from_numpy_dtype(dt).Commit()\n"
        "c = MPI.COMM_WORLD\n"
        "a = np.zeros(5, dt)\n"
        "if c.rank == 0:\n"
        "    a['id'] = np.arange(5); a['pos'] = 1.5; a['tag'] = b'ok'\n"
        "    c.Send([a, 5, t], dest=1)\n"
        "else:\n"
        "    c.Recv([a, 5, t], source=0)\n"
        "    print('got', a['id'].tolist(), float(a['pos'].sum()), a['tag'][4].decode(),\n"
        "          dtlib.to_numpy_dtype(t).itemsize == dt.itemsize)\n"
    )
    res = launch(2, prog, timeout=50, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[1] got [0, 1, 2, 3, 4] 22.5 ok True" in res.stdout
