"""PNG figures of evaluation and grid search (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: dict, path: Path, title: str) -> None:
    plt = _pyplot()
    counts = np.array(confusion["counts"])
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(counts), 1.0 + 0.7 * len(counts)))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(counts)), confusion["columns_predicted"], rotation=45, ha="right")
    ax.set_yticks(range(len(counts)), confusion["rows_labelled"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("labelled")
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center", color="black" if value < counts.max() / 2 else "white")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_heat_map(values: np.ndarray, rows: list[str], columns: list[str], row_key: str, column_key: str,
                  path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(2 + 1.2 * len(columns), 1.5 + 0.8 * len(rows)))
    ax.imshow(values, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(column_key)
    ax.set_ylabel(row_key)
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white" if value < 0.5 else "black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
