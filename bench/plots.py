"""The suites' PNG plots, drawn beside their markdown reports.

matplotlib is optional: :func:`pyplot` returns None, after printing a note,
when it is not installed, and each ``*_plot`` function then returns False
without writing anything.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def pyplot(what: str) -> Any:
    """matplotlib.pyplot on the file-only Agg backend, or None (with a note
    on stderr naming ``what``, the plot not drawn) when matplotlib is not
    installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no {what} (pip install matplotlib)", file=sys.stderr)
        return None
    return plt


def size_label(n: float) -> str:
    """A tick label for a byte count: 8 B, 64 KiB, 16 MiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n:g} B"


def time_label(s: float) -> str:
    """A tick label for seconds: 50 µs, 2 ms, 1.5 s."""
    if s >= 1:
        return f"{s:g} s"
    return f"{s * 1e3:g} ms" if s >= 1e-3 else f"{s * 1e6:g} µs"


def size_axis(ax: Any, sizes: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([size_label(s) for s in sizes])
    ax.minorticks_off()


def _log_axis(axis: Any, label: Any, subs: tuple[float, ...] = (1.0, 2.0, 5.0)) -> None:
    """A log axis with labelled ticks at ``subs`` of each decade (the
    default labels only powers of 10, often none within the data)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: label(x)))
    axis.set_minor_formatter(NullFormatter())


def time_axis(ax: Any) -> None:
    """A log y axis of seconds, labelled in µs, ms or s (call it after
    plotting: past three decades of data, only powers of 10 are labelled)."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    _log_axis(ax.yaxis, time_label, (1.0,) if hi > 1000 * lo else (1.0, 2.0, 5.0))


def ratio_axis(
    ax: Any, which: str, subs: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
) -> None:
    """A log axis of ratios (``which``: "x" or "y"), labelled 0.5x, 2x."""
    getattr(ax, f"set_{which}scale")("log")
    _log_axis(getattr(ax, f"{which}axis"), lambda x: f"{x:g}x", subs)


def p2p_plot(path: Path, med: dict[str, dict[int, float]], cols: list[str], title: str) -> bool:
    """Half round-trip time against message size, a line per column (left),
    and zmqmesh's time over each peer's (right, when zmqmesh and a peer were
    both measured). ``med[column][size]`` in seconds."""
    plt = pyplot("p2p.png")
    if plt is None:
        return False
    cols = [c for c in cols if any(s > 0 for s in med.get(c, {}))]
    if not cols:
        print("p2p: nothing measured, no p2p.png", file=sys.stderr)
        return False
    sizes = sorted({s for c in cols for s in med[c] if s > 0})  # 0 B has no place on a log axis
    peers = [c for c in cols if not c.startswith("zmqmesh")] if "zmqmesh" in cols else []
    fig, axes = plt.subplots(1, 2 if peers else 1, figsize=(13 if peers else 7, 4.5), squeeze=False)
    ax = axes[0][0]
    for c in cols:
        xs = [s for s in sizes if s in med[c]]
        ax.plot(xs, [med[c][s] for s in xs], marker="o", label=c)
    size_axis(ax, sizes)
    time_axis(ax)
    ax.set_xlabel("message size")
    ax.set_ylabel("half round-trip time (median)")
    ax.set_title("ping-pong, 2 ranks")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if peers:
        ax = axes[0][1]
        z = med["zmqmesh"]
        for q in peers:
            xs = [s for s in sizes if s in z and s in med[q] and med[q][s] > 0]
            ax.plot(xs, [z[s] / med[q][s] for s in xs], marker="o", label=f"zmqmesh / {q}")
        ax.axhline(1, color="black", linewidth=0.8)
        size_axis(ax, sizes)
        ratio_axis(ax, "y")
        ax.set_xlabel("message size")
        ax.set_ylabel("zmqmesh's time / peer's (below 1: zmqmesh faster)")
        ax.set_title("ratios")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def coll_plot(
    path: Path,
    med: dict[str, dict[int, dict[str, dict[int, float]]]],
    ops: list[str],
    ranks: list[int],
    title: str,
) -> bool:
    """One panel per (rank count, op): time against bytes, a line per
    column; barrier (one size) as bars. ``med[op][ranks][column][size]``."""
    plt = pyplot("coll.png")
    if plt is None:
        return False
    if not any(med[op][n] for op in ops for n in ranks):
        print("coll: nothing measured, no coll.png", file=sys.stderr)
        return False
    fig, axes = plt.subplots(
        len(ranks), len(ops), figsize=(4.2 * len(ops), 3.4 * len(ranks)), squeeze=False
    )
    # one colour per column in every panel
    names = sorted({c for op in ops for n in ranks for c in med[op][n]}, key=_column_order)
    color = {c: f"C{i % 10}" for i, c in enumerate(names)}
    for i, n in enumerate(ranks):
        for j, op in enumerate(ops):
            ax, cells = axes[i][j], med[op][n]
            ax.set_title(f"{op}, {n} ranks")
            cols = sorted(cells, key=_column_order)
            if not cols:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
                continue
            if op == "barrier":
                ts = [min(cells[c].values()) for c in cols]
                ax.bar(range(len(cols)), ts, color=[color[c] for c in cols])
                ax.set_xticks(range(len(cols)))
                ax.set_xticklabels(cols, rotation=20, ha="right")
                time_axis(ax)
            else:
                sizes = sorted({s for c in cols for s in cells[c]})
                for c in cols:
                    xs = [s for s in sizes if s in cells[c]]
                    ax.plot(xs, [cells[c][s] for s in xs], marker="o", color=color[c], label=c)
                size_axis(ax, sizes)
                time_axis(ax)
                ax.set_xlabel("bytes per rank")
            ax.set_ylabel("time (median)")
            ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], color=color[c], marker="o", label=c) for c in names]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(names), 6))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _column_order(c: str) -> tuple[bool, str]:
    return (c != "zmqmesh", c)
