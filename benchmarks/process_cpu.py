"""CPU seconds used by this process and everything it started (tritonserver, its python stubs,
the `creativelens stream` client), and by the whole machine, read from /proc.

A phase's CPU cost is the difference of two readings. Children that ended and were waited for
are counted through their parent's cutime/cstime, so nothing a phase started escapes. The
machine's busy time minus ours is what other processes took meanwhile: the disturbance.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root_pid: int | None = None) -> float:
    """User + system CPU seconds of `root_pid` (default: this process) and all its descendants."""
    root_pid = root_pid or os.getpid()
    stats = _all_process_stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total_ticks, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        if pid in stats:
            total_ticks += stats[pid][1]
        pending.extend(children.get(pid, ()))
    return total_ticks / _TICKS_PER_SECOND


def _all_process_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, utime + stime + cutime + cstime in clock ticks)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = text[text.rindex(")") + 2:].split()
        parent = int(fields[1])
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        stats[int(entry.name)] = (parent, utime + stime + cutime + cstime)
    return stats


def machine_busy_cpu_seconds() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS_PER_SECOND


def process_cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of the process `pid` (default: this one), all its threads, not
    its children."""
    return sum(_own_ticks(Path(f"/proc/{pid or os.getpid()}/stat"))) / _TICKS_PER_SECOND


def thread_cpu_seconds() -> dict[int, float]:
    """Thread id -> user + system CPU seconds, for every thread of this process alive now."""
    threads = {}
    for entry in Path("/proc/self/task").iterdir():
        try:
            threads[int(entry.name)] = sum(_own_ticks(entry / "stat")) / _TICKS_PER_SECOND
        except OSError:  # the thread ended while we looked
            continue
    return threads


def _own_ticks(stat_path: Path) -> tuple[int, int]:
    text = stat_path.read_text()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])
