"""The sign tree's data: batches of nodes (:class:`Block`) and the store of their cells' rows (:class:`RowStore`).

Walked by :class:`localregions.signtree.BatchedSignTree`; see :mod:`localregions.signtree`, "Batches".
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ._cell_solvers import PAD_OFFSET

__all__ = ["Block", "RowStore", "merge_blocks"]


@dataclass
class Block:
    """Stacked nodes of the sign tree; every field's first axis is the node.

    A node's cell rows are ``signs * store[row_ids]`` (rows of the tree's row store, unit dual
    norm, with their offsets), so a node carries indices, not matrices.  Padding: row id 0 (the
    store's always-true row ``0 . z + 1 >= tau``) with sign 1 and dual 0; points with margin
    ``-inf``.
    """

    row_ids: np.ndarray  # (n, m) the cell's rows in the store
    signs: np.ndarray  # (n, m) +-1
    duals: np.ndarray  # (n, m) warm start of the active-set solve
    todo: np.ndarray  # (n, p) store rows of the current layer's neurons still to branch on, in order
    todo_neurons: np.ndarray  # (n, p) their index among all hidden neurons
    todo_count: np.ndarray  # (n,)
    pattern: np.ndarray  # (n, neurons) bool, the pattern so far (and defaults of unbranched ones)
    layer: np.ndarray  # (n,)
    points: np.ndarray  # (n, k, d) known points of the cell
    point_margins: np.ndarray  # (n, k) their checked margins
    cap_rows: np.ndarray  # (n, d) an aggregate of the cell's rows: the cell lies in cap . z + offset >= 0
    cap_offsets: np.ndarray  # (n,)

    def __len__(self) -> int:
        return self.row_ids.shape[0]

    def take(self, index) -> "Block":
        return Block(**{name: getattr(self, name)[index] for name in _FIELDS})


_FIELDS = tuple(field.name for field in fields(Block))
_PADDING = {"signs": 1.0, "point_margins": -np.inf}


def merge_blocks(blocks: list[Block]) -> Block:
    """One block from several, each field padded along its second axis to the widest."""
    if len(blocks) == 1:
        return blocks[0]
    merged = {}
    for name in _FIELDS:
        parts = [getattr(block, name) for block in blocks]
        if parts[0].ndim >= 2:
            width = max(part.shape[1] for part in parts)
            padded = []
            for part in parts:
                if part.shape[1] < width:
                    extra = np.full((part.shape[0], width - part.shape[1]) + part.shape[2:],
                                    _PADDING.get(name, 0), dtype=part.dtype)
                    part = np.concatenate([part, extra], axis=1)
                padded.append(part)
            parts = padded
        merged[name] = np.concatenate(parts, axis=0)
    return Block(**merged)



class RowStore:
    """The rows (unit dual norm) and offsets of every hyperplane a live node may use.

    Rows are added when nodes enter a layer; :meth:`collect` drops the rows no node refers to
    any more and renumbers the rest, so that memory follows the work list, not the whole tree.
    """

    def __init__(self, width: int, capacity: int = 1 << 10):
        self.rows = np.zeros((capacity, width))
        self.offsets = np.zeros(capacity)
        self.offsets[0] = PAD_OFFSET
        self.size = 1

    def add(self, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        count = rows.shape[0]
        if self.size + count > self.rows.shape[0]:
            capacity = max(2 * self.rows.shape[0], self.size + count)
            self.rows = np.concatenate([self.rows, np.zeros((capacity - self.rows.shape[0], self.rows.shape[1]))])
            self.offsets = np.concatenate([self.offsets, np.zeros(capacity - self.offsets.shape[0])])
        ids = np.arange(self.size, self.size + count)
        self.rows[ids], self.offsets[ids] = rows, offsets
        self.size += count
        return ids

    def collect(self, blocks: list[Block]) -> None:
        """Keep only the rows that ``blocks`` (all live nodes) refer to, renumbered in order."""
        live = np.unique(np.concatenate([np.zeros(1, np.int64)] + [b.row_ids.ravel() for b in blocks]
                                        + [b.todo.ravel() for b in blocks]))
        self.rows[: live.size] = self.rows[live]
        self.offsets[: live.size] = self.offsets[live]
        self.size = live.size
        for block in blocks:
            block.row_ids = np.searchsorted(live, block.row_ids)
            block.todo = np.searchsorted(live, block.todo)

    def cells(self, row_ids: np.ndarray, signs: np.ndarray):
        """Rows ``(n, m, d)`` and offsets ``(n, m)`` of the cells named by ``row_ids`` and ``signs``."""
        return self.rows[row_ids] * signs[:, :, None], self.offsets[row_ids] * signs
