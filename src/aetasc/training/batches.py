"""Mini-batches for the training step, gathered where a run's data lives.

A run's training features either fit on the GPU ("resident": a mini-batch is one gather on
the device) or stay in host memory, as the largest AET subsets of the paper's world must
(~33 GB of float16 features at T = 360 h). Host data is gathered by a background thread
into pinned staging buffers and copied to the device on a side stream, `prefetch` steps
ahead, so the copy of the next batch overlaps the current step and the GPU does not wait
on data. Both paths yield the same tensors, bit for bit: gathering is data movement only.

An epoch's row numbers are known before it starts (the trainer draws them from seeded
streams), which is what lets the host path gather ahead.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator, Mapping

import torch

Rows = Mapping[str, torch.Tensor]                     # task -> int64 row numbers of one step
Batch = dict[str, tuple[torch.Tensor, torch.Tensor]]  # task -> (features, targets) on the device


def fits_on_device(tensors: list[torch.Tensor], device: torch.device, share: float = 0.5) -> bool:
    """Whether the tensors together fit in `share` of the device's free memory."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return sum(t.nbytes for t in tensors) < share * free


class ResidentBatches:
    """Data held on the device; a mini-batch is an index on the device."""

    def __init__(self, tasks: Mapping[str, tuple[torch.Tensor, torch.Tensor]], device: torch.device):
        self.device = device
        self.tasks = {name: (x.to(device), y.to(device)) for name, (x, y) in tasks.items()}

    def epoch(self, plan: list[Rows]) -> Iterator[Batch]:
        for rows in _rows_on(plan, self.device):
            yield {name: (x[rows[name]], y[rows[name]]) for name, (x, y) in self.tasks.items() if name in rows}


def _rows_on(plan: list[Rows], device: torch.device) -> list[Rows]:
    """The epoch's row numbers on the device in one asynchronous copy: a copy per step from
    pageable memory would make the host wait for the GPU to drain at every step."""
    if device.type != "cuda" or not plan:
        return plan
    flat = torch.cat([idx for rows in plan for idx in rows.values()])
    flat = flat.pin_memory().to(device, non_blocking=True)
    out, at = [], 0
    for rows in plan:
        step = {}
        for name, idx in rows.items():
            step[name] = flat[at:at + len(idx)]
            at += len(idx)
        out.append(step)
    return out


class HostBatches:
    """Data held in host memory (pageable or memory-mapped); batches gathered ahead.

    With a CUDA device, a background thread gathers step i + 1 .. i + prefetch into pinned
    staging buffers and copies them over on its own stream while step i computes; the
    consumer's stream waits only for the copy of its own batch. prefetch = 0 gathers and
    copies in the calling thread (the plain path, for comparison). On the CPU the gathered
    rows are the batch.
    """

    def __init__(self, tasks: Mapping[str, tuple[torch.Tensor, torch.Tensor]], device: torch.device,
                 prefetch: int = 2):
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self.device, self.prefetch = device, prefetch
        self.tasks = dict(tasks)
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda and prefetch else None
        self._slots: list[dict] = []      # pinned buffers, reused round-robin

    def _buffers(self, slot: int, rows: Rows) -> dict:
        """Pinned staging buffers of slot `slot`, grown to this step's row counts."""
        while len(self._slots) <= slot:
            self._slots.append({"copied": None, "bufs": {}})
        bufs = self._slots[slot]["bufs"]
        for name, idx in rows.items():
            x, y = self.tasks[name]
            have = bufs.get(name)
            if have is None or len(have[0]) < len(idx):
                bufs[name] = tuple(torch.empty((len(idx), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
                                   for t in (x, y))
        return bufs

    def _gather(self, rows: Rows, slot: int | None) -> Batch:
        """Rows into staging buffers (pinned on CUDA), then onto the device."""
        if not self.cuda:
            return {name: (self.tasks[name][0].index_select(0, idx), self.tasks[name][1].index_select(0, idx))
                    for name, idx in rows.items()}
        slot_state = self._slots[slot] if slot is not None and slot < len(self._slots) else None
        if slot_state is not None and slot_state["copied"] is not None:
            slot_state["copied"].synchronize()    # the slot's previous copy must be done
        bufs = self._buffers(slot or 0, rows)
        out = {}
        for name, idx in rows.items():
            x, y = self.tasks[name]
            bx, by = (b[:len(idx)] for b in bufs[name])
            torch.index_select(x, 0, idx, out=bx)
            torch.index_select(y, 0, idx, out=by)
            out[name] = (bx.to(self.device, non_blocking=True), by.to(self.device, non_blocking=True))
        done = torch.cuda.Event()
        done.record()                                 # on the current (copy or consumer) stream
        self._slots[slot or 0]["copied"] = done
        return out

    def epoch(self, plan: list[Rows]) -> Iterator[Batch]:
        if self.stream is None:
            for rows in plan:
                batch = self._gather(rows, 0 if self.cuda else None)
                if self.cuda:
                    self._slots[0]["copied"].synchronize()   # the pinned buffer is reused next step
                yield batch
            return
        yield from self._prefetched(plan)

    def _prefetched(self, plan: list[Rows]) -> Iterator[Batch]:
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        slots = self.prefetch + 1      # one more than can wait in the queue: a slot is free to fill

        def work():
            try:
                with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
                    for i, rows in enumerate(plan):
                        if stop.is_set():
                            return
                        batch = self._gather(rows, i % slots)
                        _put(ready, (batch, self._slots[i % slots]["copied"]), stop)
            except BaseException as err:        # re-raised in the consumer
                _put(ready, err, stop)

        worker = threading.Thread(target=work, name="host-batches", daemon=True)
        worker.start()
        consumer = torch.cuda.current_stream(self.device)
        try:
            for _ in plan:
                item = ready.get()
                if isinstance(item, BaseException):
                    raise item
                batch, copied = item
                consumer.wait_event(copied)
                for x, y in batch.values():
                    # allocated on the copy stream, used on the consumer's: keep the memory
                    # from being reused before the consumer's work on it is done
                    x.record_stream(consumer)
                    y.record_stream(consumer)
                yield batch
        finally:
            stop.set()
            while worker.is_alive():        # unblock a worker waiting on a full queue
                try:
                    ready.get(timeout=0.05)
                except queue.Empty:
                    pass
            worker.join()


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return
        except queue.Full:
            continue


def batch_source(tasks: Mapping[str, tuple[torch.Tensor, torch.Tensor]], device: torch.device,
                 resident: bool | None = None, prefetch: int = 2):
    """Resident when the training data fits in half the device's free memory (or `resident`)."""
    if resident is None:
        resident = fits_on_device([t for pair in tasks.values() for t in pair], device)
    return ResidentBatches(tasks, device) if resident else HostBatches(tasks, device, prefetch)
