"""Which pool pixels (or images) are labelled, at ≤ 1 bit per pixel, saved atomically after every query.

docs/reference.md §3a/§10: one pickled bool array per image (8 bits/pixel), rewritten in place, regenerated
at every start, so a killed or resumed run lost or re-bought labels and kept no per-round record.

On disk (`dir` = work_dir/masks):
    labels-<sha256[:16]>.bin   payload: each image's np.packbits(mask.ravel()) back to back
                               (image mode: np.packbits over the N flags)
    labels.json                manifest: format, version, mode, sizes, payload name + sha256 +
                               byte count, per-image counts, round records, meta
    classes-<sha256[:16]>.bin  superpixel mode, `label dominant` only: each image's assigned-class map (int16,
                               -1 where the ground truth is used), zlib-compressed, back to back; the manifest's
                               `superpixels` entry names it with its sha256, per-image offsets and the clicks
The manifest is the commit point: it is replaced last, and the payloads it names are content-addressed,
so a reader sees either the previous state or the new one, never a mix or a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .testhooks import kill_point

FORMAT = "segal-label-state"
VERSION = 1
MANIFEST = "labels.json"

Mode = Literal["pixel", "image"]


class LabelStateError(RuntimeError):
    """A saved label state is missing, corrupted or from an unknown format version."""


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not possible on every platform/filesystem.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, kill_event: str | None = None) -> None:
    """Write `data` to `path` so a reader sees the old file or the new one, never a partial one.

    Temp file `.<name>.<random>.tmp` in the same directory (os.replace is atomic only within a
    filesystem), flush + fsync, os.replace, fsync of the directory. The temp file is removed on any
    failure (a full disk included); only a SIGKILL can leave one, and `remove_stale` clears it.
    `kill_event` names the test kill point between the fsync and the rename (testhooks.py).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _default_mode())  # mkstemp makes 0600; results should be readable like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if kill_event:
            kill_point(kill_event)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def remove_temp_files(dir: str | os.PathLike[str]) -> list[str]:
    """Delete `atomic_write_bytes` temp files (`.<name>.<random>.tmp`) left in `dir` by a killed writer."""
    removed = []
    for p in Path(dir).glob(".*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


class LabelState:
    """Labelled pixels of every pool image (pixel/region mode) or labelled images (image mode).

    Pixel mode keeps each image as np.packbits of its flattened mask (sizes may differ per image)
    plus a per-image count, so `count`/`total` never unpack.
    """

    def __init__(self, mode: Mode, sizes: Sequence[tuple[int, int]]) -> None:
        if mode not in ("pixel", "image"):
            raise ValueError(f"mode must be 'pixel' or 'image', got {mode!r}")
        self.mode: Mode = mode
        self.sizes: list[tuple[int, int]] = [(int(h), int(w)) for h, w in sizes]
        if any(h <= 0 or w <= 0 for h, w in self.sizes):
            raise ValueError("every pool image needs a positive (H, W) size")
        if mode == "pixel":
            self._bits = [np.zeros(-(-h * w // 8), dtype=np.uint8) for h, w in self.sizes]
            self._counts = np.zeros(len(self.sizes), dtype=np.int64)
        else:
            self._flags = np.zeros(len(self.sizes), dtype=bool)
        self.records: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.clicks: np.ndarray | None = None  # superpixel mode: superpixels bought per image
        self._classes: dict[int, bytes] = {}   # superpixel mode: image -> zlib of its int16 assigned-class map

    @classmethod
    def for_pixels(cls, sizes: Sequence[tuple[int, int]]) -> LabelState:
        """Empty pixel/region-mode state for a pool of (H, W) mask sizes, in pool order."""
        return cls("pixel", sizes)

    @classmethod
    def for_superpixels(cls, sizes: Sequence[tuple[int, int]]) -> LabelState:
        """Empty superpixel-mode state: pixel labels, plus the superpixels (clicks) bought per image and, for
        one-click (`dominant`) labels, the class each bought pixel was given."""
        state = cls("pixel", sizes)
        state.clicks = np.zeros(len(state.sizes), dtype=np.int64)
        return state

    @classmethod
    def for_images(cls, n: int) -> LabelState:
        """Empty image-mode state for `n` pool images."""
        return cls("image", [(1, 1)] * n)

    def __len__(self) -> int:
        return len(self.sizes)

    def _check_index(self, i: int) -> int:
        if not 0 <= i < len(self.sizes):
            raise IndexError(f"pool image {i} out of range 0..{len(self.sizes) - 1}")
        return int(i)

    # ------------------------------------------------------------------ queries

    def mask(self, i: int) -> np.ndarray:
        """Bool (H, W) labelled mask of image i (image mode: a 0-d bool array)."""
        i = self._check_index(i)
        if self.mode == "image":
            return np.array(self._flags[i])
        h, w = self.sizes[i]
        return np.unpackbits(self._bits[i], count=h * w).view(bool).reshape(h, w)

    def images(self) -> np.ndarray:
        """Image mode: bool (N,) labelled flags (a copy)."""
        self._require("image")
        return self._flags.copy()

    def count(self, i: int) -> int:
        """Labelled pixels of image i (image mode: 1 or 0)."""
        i = self._check_index(i)
        return int(self._flags[i]) if self.mode == "image" else int(self._counts[i])

    def total(self) -> int:
        """Labelled pixels over the pool (image mode: labelled images)."""
        return int(self._flags.sum()) if self.mode == "image" else int(self._counts.sum())

    def unlabelled(self, i: int) -> int:
        h, w = self.sizes[self._check_index(i)]
        return h * w - self.count(i) if self.mode == "pixel" else 1 - self.count(i)

    @property
    def nbytes(self) -> int:
        """Bytes held for the labels themselves (pixel mode: ⌈H·W/8⌉ per image; superpixel mode adds the clicks and
        the compressed class maps)."""
        if self.mode == "image":
            return int(self._flags.nbytes)
        extra = 0 if self.clicks is None else self.clicks.nbytes + sum(len(b) for b in self._classes.values())
        return int(sum(b.nbytes for b in self._bits) + self._counts.nbytes + extra)

    # ------------------------------------------------------------------ updates

    def add(self, i: int, new_mask: Any) -> int:
        """OR `new_mask` into image i; return how many pixels were NEW (already labelled never count)."""
        i = self._check_index(i)
        if self.mode == "image":
            new = bool(np.asarray(new_mask))
            added = int(new and not self._flags[i])
            self._flags[i] |= new
            return added
        h, w = self.sizes[i]
        new = np.asarray(new_mask, dtype=bool)
        if new.shape != (h, w):
            # docs/reference.md §1c: a shape mismatch surfaced only at the first OR-update, mid-run.
            raise ValueError(f"image {i}: new mask shape {new.shape} != pool size {(h, w)}")
        cur = np.unpackbits(self._bits[i], count=h * w).view(bool)
        fresh = new.ravel() & ~cur
        added = int(fresh.sum())
        if added:
            self._bits[i] = np.packbits(cur | fresh)
            self._counts[i] += added
        return added

    def add_superpixels(self, i: int, new_mask: Any, clicks: int, class_map: np.ndarray | None = None) -> int:
        """Superpixel mode: OR `new_mask` into image i as `clicks` superpixels; `class_map` (int16, -1: none)
        assigns a class to pixels (one-click labels). Returns the new pixels, as `add`."""
        if self.clicks is None:
            raise ValueError("only valid in superpixel mode (LabelState.for_superpixels)")
        i = self._check_index(i)
        added = self.add(i, new_mask)
        self.clicks[i] += int(clicks)
        if class_map is not None:
            new = np.asarray(class_map, dtype=np.int16)
            cur = self.class_map(i)
            merged = new if cur is None else np.where(new >= 0, new, cur).astype(np.int16)
            self._classes[i] = zlib.compress(merged.astype("<i2").tobytes(), 6)
        return added

    def class_map(self, i: int) -> np.ndarray | None:
        """The (H, W) int16 classes assigned to image i's pixels (-1: the ground truth is used), or None."""
        blob = self._classes.get(self._check_index(i))
        if blob is None:
            return None
        return np.frombuffer(zlib.decompress(blob), dtype="<i2").astype(np.int16).reshape(self.sizes[i])

    def superpixels(self) -> int | None:
        """Superpixels (clicks) bought over the pool; None outside superpixel mode."""
        return None if self.clicks is None else int(self.clicks.sum())

    def add_images(self, indices: Sequence[int]) -> int:
        """Image mode: label these images; return how many were new."""
        self._require("image")
        return sum(self.add(int(i), True) for i in indices)

    def record_round(
        self,
        round: int,
        planned: int,
        added: int,
        cumulative: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append the per-round record (what the round planned, added, and the running total)."""
        rec: dict[str, Any] = {
            "round": int(round),
            "planned": int(planned),
            "added": int(added),
            "cumulative": int(self.total() if cumulative is None else cumulative),
        }
        if self.clicks is not None:
            rec["superpixels"] = self.superpixels()  # cumulative, as `cumulative` counts pixels
        if extra:
            rec["extra"] = dict(extra)
        json.dumps(rec)  # fail now, not at save time, on a value JSON cannot hold
        self.records.append(rec)
        return rec

    def _require(self, mode: Mode) -> None:
        if self.mode != mode:
            raise ValueError(f"only valid in {mode} mode (this state is {self.mode} mode)")

    # ------------------------------------------------------------------ persistence

    def _payload(self) -> bytes:
        if self.mode == "image":
            return np.packbits(self._flags).tobytes()
        return b"".join(b.tobytes() for b in self._bits)

    def save(self, dir: str | os.PathLike[str]) -> Path:
        """Persist atomically into `dir`; return the manifest path. Safe to call after every query."""
        d = Path(dir)
        d.mkdir(parents=True, exist_ok=True)
        payload = self._payload()
        digest = hashlib.sha256(payload).hexdigest()
        name = f"labels-{digest[:16]}.bin"
        try:
            previous = _read_manifest(d / MANIFEST).get("payload")
        except LabelStateError:  # none yet, or a broken one that this save replaces
            previous = None
        created = not (d / name).exists()
        if created:
            atomic_write_bytes(d / name, payload, kill_event="label_save_payload")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "mode": self.mode,
            "sizes": [list(s) for s in self.sizes],
            "payload": name,
            "sha256": digest,
            "payload_bytes": len(payload),
            "counts": [self.count(i) for i in range(len(self))],
            "total": self.total(),
            "records": self.records,
            "meta": self.meta,
        }
        previous_classes = _classes_payload(d)
        if self.clicks is not None:
            manifest["superpixels"] = self._save_classes(d)
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        try:
            atomic_write_bytes(d / MANIFEST, text.encode(), kill_event="label_save_manifest")
        except BaseException:
            if created:  # nothing references it: do not leave garbage behind
                (d / name).unlink(missing_ok=True)
            raise
        kill_point("label_saved")
        # Keep the previous payload one save longer: a reader holding the old manifest can still open it.
        for stale in d.glob("labels-*.bin"):
            if stale.name not in (name, previous):
                stale.unlink(missing_ok=True)
        keep = {previous_classes, manifest.get("superpixels", {}).get("classes")}
        for stale in d.glob("classes-*.bin"):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
        return d / MANIFEST

    def _save_classes(self, d: Path) -> dict[str, Any]:
        """Superpixel mode: write the assigned-class maps (content-addressed) and return the manifest entry."""
        index, blobs, offset = [], [], 0
        for i in sorted(self._classes):
            blob = self._classes[i]
            index.append([i, offset, len(blob)])
            blobs.append(blob)
            offset += len(blob)
        payload = b"".join(blobs)
        digest = hashlib.sha256(payload).hexdigest()
        name = f"classes-{digest[:16]}.bin"
        if not (d / name).exists():
            atomic_write_bytes(d / name, payload)
        return {"clicks": [int(c) for c in self.clicks], "classes": name, "classes_sha256": digest,
                "classes_index": index}

    @staticmethod
    def remove_stale(dir: str | os.PathLike[str]) -> list[str]:
        """Delete what a killed `save` can leave: temp files, and payloads no manifest names.

        Call only while no other process writes `dir` (the runner does, on rank 0, before it starts).
        Nothing is deleted next to an unreadable manifest, so a damaged state can still be inspected.
        """
        d = Path(dir)
        if not d.is_dir():
            return []
        removed = remove_temp_files(d)
        try:
            keep = _read_manifest(d / MANIFEST).get("payload")
        except LabelStateError:
            if (d / MANIFEST).exists():
                return removed
            keep = None  # killed before the first manifest: no payload is referenced
        classes = _classes_payload(d)
        for p in [*d.glob("labels-*.bin"), *d.glob("classes-*.bin")]:
            if p.name not in (keep, classes):
                p.unlink(missing_ok=True)
                removed.append(p.name)
        return removed

    @staticmethod
    def exists(dir: str | os.PathLike[str]) -> bool:
        """Whether `dir` holds a saved state (the runner resumes from it instead of re-buying labels)."""
        return (Path(dir) / MANIFEST).is_file()

    @classmethod
    def load(cls, dir: str | os.PathLike[str]) -> LabelState:
        """Read a state saved by `save`, verifying format, sizes and the payload's sha256."""
        d = Path(dir)
        m = _read_manifest(d / MANIFEST)
        if m.get("format") != FORMAT:
            raise LabelStateError(f"{d / MANIFEST}: not a segal label state (format {m.get('format')!r})")
        if m.get("version") != VERSION:
            raise LabelStateError(
                f"{d / MANIFEST}: label state version {m.get('version')!r} is not supported (expected {VERSION})"
            )
        try:
            state = cls(m["mode"], [tuple(s) for s in m["sizes"]])
            payload_path = d / m["payload"]
            digest, nbytes = m["sha256"], m["payload_bytes"]
        except (KeyError, TypeError, ValueError) as e:
            raise LabelStateError(f"{d / MANIFEST}: malformed manifest ({e})") from e
        if Path(m["payload"]).name != m["payload"]:
            raise LabelStateError(f"{d / MANIFEST}: payload must be a file name, got {m['payload']!r}")
        try:
            payload = payload_path.read_bytes()
        except OSError as e:
            raise LabelStateError(f"{payload_path}: cannot read label payload ({e})") from e
        if len(payload) != nbytes or hashlib.sha256(payload).hexdigest() != digest:
            raise LabelStateError(
                f"{payload_path}: label payload is corrupted (size or sha256 does not match {MANIFEST}); "
                "restore it from a backup or delete the masks directory to restart labelling"
            )
        state._fill(payload)
        if m.get("counts") != [state.count(i) for i in range(len(state))]:
            raise LabelStateError(f"{d / MANIFEST}: per-image counts do not match the payload")
        state.records = list(m.get("records", []))
        state.meta = dict(m.get("meta", {}))
        if "superpixels" in m:
            state._load_superpixels(d, m["superpixels"])
        return state

    def _load_superpixels(self, d: Path, sp: Any) -> None:
        try:
            clicks, name, digest, index = sp["clicks"], sp["classes"], sp["classes_sha256"], sp["classes_index"]
            self.clicks = np.asarray(clicks, dtype=np.int64).reshape(len(self.sizes))
        except (KeyError, TypeError, ValueError) as e:
            raise LabelStateError(f"{d / MANIFEST}: malformed superpixel entry ({e})") from e
        if Path(name).name != name:
            raise LabelStateError(f"{d / MANIFEST}: classes payload must be a file name, got {name!r}")
        try:
            payload = (d / name).read_bytes()
        except OSError as e:
            raise LabelStateError(f"{d / name}: cannot read the assigned-class payload ({e})") from e
        if hashlib.sha256(payload).hexdigest() != digest:
            raise LabelStateError(f"{d / name}: assigned-class payload is corrupted (sha256 does not match {MANIFEST})")
        self._classes = {int(i): payload[int(o): int(o) + int(n)] for i, o, n in index}

    def _fill(self, payload: bytes) -> None:
        raw = np.frombuffer(payload, dtype=np.uint8)
        if self.mode == "image":
            n = len(self.sizes)
            if raw.size != -(-n // 8):
                raise LabelStateError(f"image-mode payload has {raw.size} bytes, expected {-(-n // 8)}")
            self._flags = np.unpackbits(raw, count=n).astype(bool)
            return
        expected = sum(b.size for b in self._bits)
        if raw.size != expected:
            raise LabelStateError(f"pixel-mode payload has {raw.size} bytes, expected {expected}")
        offset = 0
        for i, b in enumerate(self._bits):
            chunk = raw[offset : offset + b.size].copy()
            offset += b.size
            self._counts[i] = _popcount(chunk)
            self._bits[i] = chunk


def _popcount(packed: np.ndarray) -> int:
    # Padding bits are zero (np.packbits writes them so, and the sha256 vouches for the bytes).
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0: no 8x unpacked copy
        return int(np.bitwise_count(packed).sum(dtype=np.int64))
    return int(np.unpackbits(packed).sum())


def _classes_payload(d: Path) -> str | None:
    """The assigned-class payload the manifest in `d` names (superpixel mode), or None."""
    try:
        return (_read_manifest(d / MANIFEST).get("superpixels") or {}).get("classes")
    except (LabelStateError, AttributeError):
        return None


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelStateError(f"{path}: no saved label state here") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LabelStateError(f"{path}: unreadable label manifest ({e})") from e
    if not isinstance(data, dict):
        raise LabelStateError(f"{path}: label manifest must be a JSON object")
    return data
