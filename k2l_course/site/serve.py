"""``k2l serve``: the built website, with live code on a Jupyter kernel on this machine.

Serves the site that ``k2l book`` built (``_build/html``) on 127.0.0.1 and
starts a Jupyter server in the course's environment beside it, so the "Live
code" control of every chapter page can run the chapter's cells on the
reader's own kernel:

- both servers listen on 127.0.0.1 only;
- the Jupyter server requires a random token (made afresh at every start and
  passed to it through its environment, never on a command line that other
  users could read) and accepts requests from web pages of the site's own
  origin only (``ServerApp.allow_origin``; even with the token, see
  :mod:`k2l_course.site.serve_identity`), runs no terminals, starts kernels in
  ``book/`` (where the chapters run when the book is built) and shuts down
  kernels idle for 30 minutes whose page is gone;
- the Jupyter server keeps a kernel ready for each chapter, every cell of
  the chapter already run on it (:mod:`k2l_course.site.kernel_pool`), so a
  page's first Run answers at once; the whole of ``k2l serve`` stays within
  ``--memory`` (4 GB by default);
- the page learns the server's address and token from ``/k2l-live.json``, which
  the site server answers only to the user who started it (on Linux it looks
  the connecting socket's owner up in ``/proc/net/tcp``) and only under its own
  host name (a page from another site that rebinds its DNS name to 127.0.0.1
  is refused).

Stop it with Ctrl-C; the Jupyter server and its kernels stop with it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from k2l_course.site import book

#: The file the page reads the Jupyter server's address and token from.
CONFIG_PATH = "/k2l-live.json"
#: Kernels whose page is gone are shut down after this long idle (seconds).
CULL_IDLE_SECONDS = 1800
HOST = "127.0.0.1"
#: What ``k2l serve`` may use by default (bytes, PSS): its kernel pool fills up to it.
DEFAULT_MEMORY = 4 * 10**9


def free_port(host=HOST):
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def peer_uid(client_port, server_port, proc_net_tcp="/proc/net/tcp"):
    """The user id owning the client end of a TCP connection on 127.0.0.1.

    Parameters
    ----------
    client_port, server_port : int
    proc_net_tcp : path-like
        Linux's table of TCP sockets.

    Returns
    -------
    int or None
        None where the table cannot be read (not Linux) or lists no such socket.
    """
    local = f"0100007F:{client_port:04X}"
    remote = f"0100007F:{server_port:04X}"
    try:
        lines = Path(proc_net_tcp).read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1] == local and fields[2] == remote:
            return int(fields[7])
    return None


def jupyter_command(port, origin, root_dir, python=None, site=None, chapters=(), memory=DEFAULT_MEMORY, serve_pid=0):
    """The command line of the Jupyter server (the token goes in its environment).

    Parameters
    ----------
    port : int
    origin : str
        The site's origin, e.g. ``http://127.0.0.1:8000``: the only one
        allowed to make cross-origin requests.
    root_dir : path-like
        Where kernels start.
    python : str, optional
    site : path-like, optional
        The built site, whose chapters' notebooks the kernel pool runs
        (:mod:`k2l_course.site.kernel_pool`).
    chapters : sequence of str
        The chapters to keep a kernel ready for, in this order (none: no pool).
    memory : int
        Bytes that ``k2l serve`` as a whole may use.
    serve_pid : int
        ``k2l serve``'s process, counted in ``memory``.

    Returns
    -------
    list of str
    """
    cmd = [
        python or sys.executable,
        "-m",
        "jupyter_server",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.allow_origin={origin}",
        # on error answers too (a kernel refused for memory): jupyter_server sets allow_origin's
        # header only on answers that reach its handlers, so the page could not read the message
        "--ServerApp.tornado_settings=" + json.dumps({"headers": {"Access-Control-Allow-Origin": origin}}),
        "--ServerApp.identity_provider_class=k2l_course.site.serve_identity.SiteOriginIdentityProvider",
        "--ServerApp.allow_remote_access=False",
        "--ServerApp.open_browser=False",
        "--ServerApp.terminals_enabled=False",
        f"--ServerApp.root_dir={root_dir}",
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        "--MappingKernelManager.cull_interval=300",
        "--MappingKernelManager.cull_connected=False",
        "--Application.log_level=WARN",
        "--ServerApp.kernel_manager_class=k2l_course.site.kernel_pool.ChapterKernelManager",
        f"--ChapterKernelManager.memory_budget={int(memory)}",
        f"--ChapterKernelManager.serve_pid={int(serve_pid)}",
    ]
    if site is not None and chapters:
        cmd += [f"--ChapterKernelManager.site_dir={site}"] + [f"--ChapterKernelManager.chapters={c}" for c in chapters]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")  # whoever runs k2l serve as root chose to
    return cmd


def parse_size(text):
    """Bytes from a size such as ``4GB``, ``4G``, ``512MB``, ``1.5 GB`` or ``1000000``.

    Parameters
    ----------
    text : str

    Returns
    -------
    int
    """
    units = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9, "T": 10**12, "TB": 10**12}
    stripped = str(text).strip().upper().replace(" ", "")
    number = stripped.rstrip("KMGTB")
    unit = stripped[len(number) :]
    if unit not in units or not number:
        raise ValueError(f"not a size: {text!r} (e.g. 4GB, 512MB)")
    return int(float(number) * units[unit])


def _die_with_parent():
    """In the child before exec: get SIGTERM when ``k2l serve`` dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def site_chapters(site):
    """The chapters of a built site that have a notebook to run, in the book's order."""
    return sorted(p.stem for p in (Path(site) / "_sources").glob("*.ipynb"))


def start_jupyter(port, token, origin, root_dir=None, timeout=180, **pool):
    """Start the Jupyter server and wait until it answers.

    Parameters
    ----------
    port : int
    token : str
    origin : str
    root_dir : path-like, optional
        Default: the book's chapters (``book/``).
    timeout : float
        Seconds to wait for it to answer.
    **pool
        ``site``, ``chapters``, ``memory``: the kernel pool (:func:`jupyter_command`).

    Returns
    -------
    subprocess.Popen
    """
    root_dir = Path(root_dir or book.ROOT / "book")
    env = book.build_environment()
    env["JUPYTER_TOKEN"] = token
    process = subprocess.Popen(
        jupyter_command(port, origin, root_dir, serve_pid=os.getpid(), **pool),
        env=env,
        cwd=str(root_dir),
        preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with status {process.returncode} (see its messages above)")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/api", timeout=5) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"the Jupyter server did not answer on port {port} within {timeout:.0f} s")
        time.sleep(0.25)


def stop(process, timeout=20):
    """Stop a child process: SIGTERM (Jupyter then shuts its kernels down), SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """The built site, plus ``/k2l-live.json`` for the user who started the server.

    Answers only requests addressed to ``127.0.0.1:<port>`` (``localhost`` is
    redirected there, so the page's origin is the one the Jupyter server
    allows); anything else gets 403.
    """

    live_config = None  # set per server: the JSON bytes of /k2l-live.json

    def log_message(self, *args):
        pass

    def _allowed(self):
        port = self.server.server_address[1]
        host = self.headers.get("Host", "")
        if host == f"{HOST}:{port}":
            return True
        if host == f"localhost:{port}":
            self.send_response(307)
            self.send_header("Location", f"http://{HOST}:{port}{self.path}")
            self.end_headers()
            return False
        self.send_error(403, f"k2l serve answers only at http://{HOST}:{port}/")
        return False

    def do_GET(self):
        if not self._allowed():
            return
        if self.path.split("?", 1)[0] == CONFIG_PATH:
            return self._send_config()
        return super().do_GET()

    def do_HEAD(self):
        if self._allowed():
            super().do_HEAD()

    def _send_config(self):
        uid = peer_uid(self.client_address[1], self.server.server_address[1])
        if uid is not None and uid != os.getuid():
            self.send_error(403, "the live-code server belongs to another user")
            return
        body = self.live_config
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def serve(site, port=8000, jupyter_port=0, stream=None, chapters=None, memory=DEFAULT_MEMORY):
    """Serve ``site`` and a Jupyter server until interrupted.

    Parameters
    ----------
    site : path-like
        The built site (holds ``index.html``).
    port : int
        The site's port on 127.0.0.1 (0: any free port).
    jupyter_port : int
        The Jupyter server's port (0: any free port).
    stream : file, optional
        Where to print the addresses (default: stdout).
    chapters : sequence of str, optional
        The chapters to keep a kernel ready for, in this order (default:
        every chapter of the site; empty: none).
    memory : int
        Bytes (PSS) that ``k2l serve``, its Jupyter server and kernels may use.

    Returns
    -------
    int
        Exit status.
    """
    stream = stream or sys.stdout
    site = Path(site)
    if not (site / "index.html").is_file():
        print(f"k2l serve: no built site in {site}: build it first with 'k2l book'", file=sys.stderr)
        return 2
    handler = type("Handler", (SiteHandler,), {})
    try:
        httpd = http.server.ThreadingHTTPServer((HOST, port), functools.partial(handler, directory=str(site)))
    except OSError as error:
        print(f"k2l serve: cannot listen on {HOST}:{port}: {error.strerror}; try --port 0", file=sys.stderr)
        return 2
    origin = f"http://{HOST}:{httpd.server_address[1]}"
    token = secrets.token_urlsafe(32)
    jupyter_port = jupyter_port or free_port()
    print(f"starting a Jupyter server for live code on {HOST}:{jupyter_port} ...", file=stream, flush=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    jupyter = None
    try:
        chapters = site_chapters(site) if chapters is None else list(chapters)
        jupyter = start_jupyter(jupyter_port, token, origin, site=site.resolve(), chapters=chapters, memory=memory)
        handler.live_config = json.dumps(
            {
                "baseUrl": f"http://{HOST}:{jupyter_port}/",
                "wsUrl": f"ws://{HOST}:{jupyter_port}/",
                "token": token,
                "kernel": "python3",
            }
        ).encode()
        if chapters:
            print(
                f"preparing a kernel for each of {len(chapters)} chapters in the background, within "
                f"{memory / 1e9:.1f} GB (--memory)",
                file=stream,
                flush=True,
            )
        print(f"serving the course at {origin}/  (live code on; Ctrl-C stops)", file=stream, flush=True)
        httpd.serve_forever()
    except RuntimeError as error:
        print(f"k2l serve: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping", file=stream)
    finally:
        signal.signal(signal.SIGTERM, previous)
        httpd.server_close()
        if jupyter is not None:
            stop(jupyter)
    return 0


def add_arguments(parser):
    """Options of ``k2l serve``."""
    parser.add_argument(
        "--site", type=Path, default=book.ROOT / book.DEFAULT_OUTPUT, help=f"the built site (default {book.DEFAULT_OUTPUT}/)"
    )
    parser.add_argument("--port", type=int, default=8000, help="the site's port on 127.0.0.1 (default 8000; 0: any free port)")
    parser.add_argument(
        "--jupyter-port", type=int, default=0, help="the Jupyter server's port on 127.0.0.1 (default: any free port)"
    )
    parser.add_argument(
        "--memory",
        type=parse_size,
        default=DEFAULT_MEMORY,
        help="memory that k2l serve, its Jupyter server and kernels may use (default 4GB): kernels are "
        "prepared in advance for as many chapters as fit, and a page's kernel that does not fit is refused",
    )
    parser.add_argument(
        "--warm",
        nargs="*",
        metavar="CHAPTER",
        help="the chapters to prepare a kernel for in advance, in this order (default: every chapter; "
        "--warm alone: none)",
    )


def run(args):
    """Run ``k2l serve``."""
    return serve(args.site, port=args.port, jupyter_port=args.jupyter_port, chapters=args.warm, memory=args.memory)
