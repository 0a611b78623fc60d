"""Score maps kept on their device for selection: selection.Ranked over a torch tensor (CPU or CUDA).

The query scores a batch on the model's device; each image's map stays there, and the pickers of
runtime/selection.py read it through `DeviceRanked`, which sends the host only the prefixes of the ranking
they ask for (a quota's worth of positions, a threshold pool, a region's few scores), never the map.
The ranking is exact, as selection.top_k: (score desc, flat position asc), NaN as -inf, so the labels
are those of the numpy maps (tests/test_runtime_query_batched.py compares them).
"""

from __future__ import annotations

import numpy as np
import torch


def exact_top(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (ascending) of the k largest of a 1-d tensor, ties towards the lower index: selection.top_k on
    the tensor's device (torch.topk leaves the boundary value's ties arbitrary)."""
    n = values.numel()
    if k <= 0:
        return torch.empty(0, dtype=torch.long, device=values.device)
    if k >= n:
        return torch.arange(n, device=values.device)
    kth = torch.topk(values, k, sorted=False).values.min()
    above = torch.nonzero(values > kth).squeeze(1)
    ties = torch.nonzero(values == kth).squeeze(1)[: k - above.numel()]
    return torch.cat([above, ties]).sort().values


class DeviceRanked:
    """selection.Ranked for one image's (H, W) scores on their device and its host labelled mask (H, W).

    `labelled` goes to the device once (H·W bools); `pool`/`order` run exact top-k there and return host
    int64 positions; `values` returns float64 scores (float32 scores widen exactly, so ties and order are
    the float64 map's)."""

    def __init__(self, scores: torch.Tensor, labelled: np.ndarray) -> None:
        if scores.dim() != 2 or tuple(scores.shape) != tuple(labelled.shape):
            raise ValueError(f"scores {tuple(scores.shape)} and labelled {labelled.shape} must be the same (H, W)")
        self.shape = (int(scores.shape[0]), int(scores.shape[1]))
        self.labelled = np.ascontiguousarray(labelled, dtype=bool).ravel()
        flat = scores.reshape(-1)
        self._flat = torch.where(torch.isnan(flat), torch.full_like(flat, -torch.inf), flat)
        unl = torch.from_numpy(~self.labelled).to(flat.device)
        self._pos = torch.nonzero(unl).squeeze(1)   # unlabelled flat positions, ascending
        self._val = self._flat[self._pos]
        self.n_unlabelled = int(self._pos.numel())
        self._order = np.empty(0, dtype=np.int64)

    def pool(self, k: int) -> np.ndarray:
        return self._pos[exact_top(self._val, k)].cpu().numpy()

    def order(self, k: int) -> np.ndarray:
        k = min(max(k, 0), self.n_unlabelled)
        if k > self._order.size:
            idx = exact_top(self._val, k)
            # stable: among equal scores the ascending index (= position) order of `idx` is kept
            idx = idx[torch.sort(self._val[idx], descending=True, stable=True).indices]
            self._order = self._pos[idx].cpu().numpy()
        return self._order[:k]

    def values(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        index = torch.from_numpy(positions).to(self._flat.device)
        return self._flat[index].double().cpu().numpy()

    def candidates(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(float64 scores, flat positions) of the k best unlabelled pixels: an image's share of a global pick."""
        idx = exact_top(self._val, k)
        return self._val[idx].double().cpu().numpy(), self._pos[idx].cpu().numpy()
