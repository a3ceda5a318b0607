"""Kernels that have run their chapter before a reader asks: ``k2l serve``'s kernel pool.

A reader who presses Run on a chapter page waits for the chapter's earlier
cells (importing TensorFlow and nengo, loading MNIST, evaluating networks,
running the emulated chip) before the cell they asked for. jupyter_server has
no kernel pool of its own, and the pools that exist do not fit: Kernel
Gateway's ``prespawn_count`` replaces jupyter_server with another server and
seeds every kernel with one notebook; Voilà's preheated kernels serve Voilà's
own pages; ``hotpot_km`` was written for jupyter_server 1 and is no longer
released. So this module is a small pool on jupyter_server's own kernel
manager API (:class:`ChapterKernelManager`, loaded with
``--ServerApp.kernel_manager_class``):

- for each chapter (in the order given), it starts a kernel in the chapter's
  folder and runs every code cell of the chapter's executed notebook in it,
  the very cells the page shows (``_sources/<chapter>.ipynb`` of the built
  site), one chapter at a time;
- a page that starts a kernel for its chapter (``POST /api/kernels`` with the
  chapter's notebook as ``path``) gets that kernel at once, and the kernel's
  model says how many of the chapter's cells have run on it
  (``k2l_cells_run``), so the page runs none of them again; the pool then
  prepares a new kernel for that chapter; if the chapter's kernel is being
  prepared, the request waits for it (that is never longer than running the
  same cells on a new kernel);
- memory: the pool keeps the whole of ``k2l serve`` (its own process, the
  Jupyter server and every kernel, measured as proportional set size, PSS,
  so libraries shared between kernels count once) within
  ``memory_budget``. A chapter's kernel is prepared only when the total
  plus that chapter's measured cost fits; when the readers' kernels grow,
  prepared kernels are shut down, largest first; a page's kernel that would
  not fit even then is refused with a message saying so (HTTP 503).

Pooled kernels are not listed in ``/api/kernels`` and are never culled.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import psutil
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from tornado.ioloop import IOLoop
from traitlets import Float, Integer, List, Unicode

#: What a chapter's kernel is assumed to cost before any has been measured (bytes,
#: PSS; measured here: 0.41 GB for chapter 2 to 0.91 GB for chapter 1, the index 0.4 GB).
DEFAULT_KERNEL_BYTES = 1_000_000_000


#: Run (silently, leaving no name behind) after a chapter's cells: frees what they no
#: longer hold and returns the heap's free pages to the system (glibc's malloc_trim).
RELEASE_MEMORY = (
    "(lambda gc, ctypes: (gc.collect(), ctypes.CDLL(None).malloc_trim(0) if hasattr(ctypes.CDLL(None), 'malloc_trim') "
    "else None))(__import__('gc'), __import__('ctypes'))"
)


def process_tree_pss(pids):
    """The proportional set size (bytes) of processes and all their descendants.

    Parameters
    ----------
    pids : iterable of int

    Returns
    -------
    int
        Processes that are gone (or unreadable) count 0; where PSS is not
        available (not Linux), the resident set size counts instead.
    """
    seen, total = set(), 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for process in family:
            if process.pid in seen:
                continue
            seen.add(process.pid)
            try:
                info = process.memory_full_info()
                total += getattr(info, "pss", info.rss)
            except psutil.Error:
                pass
    return total


def chapter_cells(notebook):
    """The sources of a notebook's code cells, in order.

    Parameters
    ----------
    notebook : path-like
        An ``.ipynb`` file.

    Returns
    -------
    list of str
    """
    cells = json.loads(Path(notebook).read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells if c["cell_type"] == "code"]


class ChapterKernelManager(AsyncMappingKernelManager):
    """jupyter_server's kernel manager, with a kernel per chapter prepared in advance."""

    site_dir = Unicode("", config=True, help="The built site (its _sources/ holds the chapters' notebooks).")
    chapters = List(Unicode(), config=True, help="The chapters to keep a kernel ready for, in this order.")
    memory_budget = Integer(4 * 10**9, config=True, help="Bytes that k2l serve as a whole may use (PSS).")
    serve_pid = Integer(0, config=True, help="k2l serve's own process, counted in the budget (0: none).")
    cell_timeout = Float(1800.0, config=True, help="Seconds a chapter's cell may take while its kernel is prepared.")
    check_interval = Float(2.0, config=True, help="Seconds between two looks at the pool and the memory.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._ready = {}  # chapter -> kernel id, every cell run
        self._cells_run = {}  # kernel id -> cells of its chapter run on it (pooled or handed out)
        self._warming = {}  # chapter -> asyncio.Task preparing its kernel
        self._cost = {}  # chapter -> measured PSS of its prepared kernel
        self._stopping = False
        self._loop_task = None
        self._said = None  # the ready chapters last logged as settled
        self._failed = set()  # chapters whose cells failed while their kernel was prepared
        if self.site_dir and self.chapters:
            IOLoop.current().add_callback(self._start_pool)

    # -- the pool ---------------------------------------------------------------

    def _start_pool(self):
        self._loop_task = asyncio.ensure_future(self._keep_filled())

    def _pooled(self):
        return set(self._ready.values())

    def memory_used(self):
        """PSS of k2l serve, its Jupyter server and every kernel (bytes)."""
        return process_tree_pss([self.serve_pid or os.getppid(), os.getpid()])

    def _estimate(self, chapter):
        """A chapter's kernel's cost: as measured, else the median of the chapters measured so
        far (all import the same stack: they differ by 2x at most), else
        :data:`DEFAULT_KERNEL_BYTES`; too low an estimate only means that the largest prepared
        kernel is shut down once the total is over the budget."""
        return self._cost.get(chapter) or self._median_cost() or DEFAULT_KERNEL_BYTES

    def _median_cost(self, excluding=None):
        """The median cost of the chapters measured so far (all but ``excluding``), or None."""
        measured = [cost for name, cost in self._cost.items() if cost and name != excluding]
        return int(statistics.median(measured)) if measured else None

    async def _keep_filled(self):
        while not self._stopping:
            try:
                await self._evict_over_budget()
                started = False
                for chapter in self.chapters:
                    if self._stopping or chapter in self._ready or chapter in self._warming or chapter in self._failed:
                        continue
                    if self.memory_used() + self._estimate(chapter) > self.memory_budget:
                        continue
                    started = True
                    self._warming[chapter] = asyncio.ensure_future(self._warm(chapter))
                    await asyncio.wait([self._warming[chapter]])
                if not started and not self._stopping and self._said != sorted(self._ready):
                    self._said = sorted(self._ready)
                    self.log.warning(
                        "k2l: pool settled: kernels ready for %d chapters (%s); k2l serve uses %.2f of %.2f GB",
                        len(self._said), ", ".join(self._said), self.memory_used() / 1e9, self.memory_budget / 1e9,
                    )  # fmt: skip
            except Exception:  # the pool must never take the server down
                self.log.exception("k2l kernel pool")
            await asyncio.sleep(self.check_interval)

    async def _warm(self, chapter):
        """Start a kernel for ``chapter`` and run every code cell of it; pool it."""
        started = time.monotonic()
        kernel_id = None
        try:
            cells = chapter_cells(Path(self.site_dir) / "_sources" / f"{chapter}.ipynb")
            kernel_id = await super().start_kernel(kernel_name=self.default_kernel_name, path=f"{chapter}.ipynb")
            self._cells_run[kernel_id] = 0
            kernel = self.get_kernel(kernel_id)
            kernel.add_restart_callback(lambda: self._forget(kernel_id), "restart")
            client = kernel.client()
            client.start_channels()
            try:
                await client.wait_for_ready(timeout=120)
                for code in cells:
                    reply = await client.execute_interactive(
                        code, store_history=True, output_hook=lambda msg: None, timeout=self.cell_timeout
                    )
                    if reply["content"]["status"] != "ok":
                        raise RuntimeError(f"cell {self._cells_run[kernel_id] + 1} failed: {reply['content'].get('ename')}")
                    self._cells_run[kernel_id] += 1
                # give the memory the cells freed back to the system (it counts in the budget)
                await client.execute_interactive(RELEASE_MEMORY, silent=True, store_history=False, timeout=60)
            finally:
                client.stop_channels()
            if kernel_id not in self._cells_run or self._stopping:
                return  # died (and was restarted empty) while it ran, or the server stops
            self._cost[chapter] = process_tree_pss([kernel.provisioner.pid]) if kernel.provisioner else 0
            self._ready[chapter] = kernel_id
            self.log.warning(
                "k2l: chapter %s ready on a kernel of its own (%d cells run, %.0f s, %.2f GB; k2l serve uses %.2f of %.2f GB)",
                chapter, len(cells), time.monotonic() - started, self._cost[chapter] / 1e9,
                self.memory_used() / 1e9, self.memory_budget / 1e9,
            )  # fmt: skip
        except Exception as error:
            self._failed.add(chapter)  # not tried again: its page starts a kernel of its own
            self.log.warning("k2l: could not prepare a kernel for %s: %s", chapter, error)
            if kernel_id is not None and kernel_id in self:
                await self.shutdown_kernel(kernel_id, now=True)
        finally:
            self._warming.pop(chapter, None)

    def _forget(self, kernel_id):
        """A kernel restarted (it had died): its chapter's state is gone."""
        self._cells_run.pop(kernel_id, None)
        for chapter, pooled in list(self._ready.items()):
            if pooled == kernel_id:
                del self._ready[chapter]
                IOLoop.current().add_callback(self.shutdown_kernel, kernel_id, now=True)

    async def _evict_over_budget(self, need=0):
        """Shut prepared kernels down, largest first, until ``need`` more bytes fit."""
        while self._ready and self.memory_used() + need > self.memory_budget:
            chapter = max(self._ready, key=lambda c: self._cost.get(c, 0))
            kernel_id = self._ready.pop(chapter)
            self.log.warning("k2l: memory budget reached: shutting down the prepared kernel of %s", chapter)
            await self.shutdown_kernel(kernel_id, now=True)

    # -- jupyter_server's API ------------------------------------------------------

    async def start_kernel(self, *, kernel_id=None, path=None, **kwargs):
        """A prepared kernel for the chapter of ``path`` if there is one, else a new kernel."""
        chapter = Path(path).stem if path else None
        if kernel_id is None and chapter in self._warming:
            await asyncio.wait([self._warming[chapter]])
        if kernel_id is None and chapter in self._ready:
            handed = self._ready.pop(chapter)
            # Measured afresh when next prepared, tried at no more than the others' median: the
            # first preparation after a change of code computes what later ones read from the
            # caches, and costs more (chapter 4: 1.15 GB, then 0.5); kept, that cost would keep
            # the chapter out of the pool for good.
            others = self._median_cost(excluding=chapter)
            if chapter in self._cost and others:
                self._cost[chapter] = min(self._cost[chapter], others)
            self._said = None
            self.log.warning("k2l: a page got chapter %s's prepared kernel", chapter)
            return handed
        if kernel_id is None or kernel_id not in self:
            need = self._estimate(chapter)
            await self._evict_over_budget(need)
            used = self.memory_used()
            if used + need > self.memory_budget:
                raise web.HTTPError(
                    503,
                    f"k2l serve's memory budget ({self.memory_budget / 1e9:.1f} GB) is taken by the live pages open now "
                    f"({used / 1e9:.1f} GB; a kernel for this chapter needs about {need / 1e9:.1f} GB): close some of "
                    "those pages, or start k2l serve again with a larger --memory",
                )
        return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)

    def kernel_model(self, kernel_id):
        """jupyter_server's model, plus ``k2l_cells_run``: the chapter's cells already run on it."""
        model = super().kernel_model(kernel_id)
        model["k2l_cells_run"] = self._cells_run.get(kernel_id, 0)
        return model

    def list_kernels(self):
        """The readers' kernels (prepared ones are not listed)."""
        pooled = self._pooled()
        return [k for k in super().list_kernels() if k["id"] not in pooled]

    async def cull_kernel_if_idle(self, kernel_id):
        """Cull idle kernels, except the prepared ones (idle by design)."""
        if kernel_id in self._pooled():
            return
        return await super().cull_kernel_if_idle(kernel_id)

    async def shutdown_kernel(self, kernel_id, now=False, restart=False):
        """Shut a kernel down (and forget it if it was prepared)."""
        if not restart:
            self._cells_run.pop(kernel_id, None)
            for chapter, pooled in list(self._ready.items()):
                if pooled == kernel_id:
                    del self._ready[chapter]
        return await super().shutdown_kernel(kernel_id, now=now, restart=restart)

    async def shutdown_all(self, now=False):
        """Stop preparing kernels, then shut every kernel down."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
        for task in list(self._warming.values()):
            task.cancel()
        return await super().shutdown_all(now=now)
