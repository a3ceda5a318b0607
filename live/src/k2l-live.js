/*
 * Live code on a chapter page of the k2l book.
 *
 * A "Live code" control at the top of every chapter turns the page's code
 * cells into editable cells that run on a Jupyter kernel on the reader's own
 * machine, started by `k2l serve`. That command serves the site and writes
 * `k2l-live.json` (the Jupyter server's URL and token) at the site's root; a
 * site served any other way has no such file, and the control then says how
 * to start the server.
 *
 * Running a cell first runs every earlier cell of the chapter that has not
 * run on this kernel yet (including cells the page does not show), in order,
 * so a later cell finds the names the chapter defined before it. `k2l serve`
 * usually hands the page a kernel on which every cell of the chapter has
 * already run (its kernel pool; the kernel's model says how many cells ran,
 * `k2l_cells_run`), so a Run answers at once.
 *
 * When the kernel dies (out of memory, or code that ends its process) or
 * `k2l serve` stops, the page says so and what to do; the next Run starts a
 * new kernel (asking `k2l serve` for its address again).
 *
 * Built on Jupyter's own client library (@jupyterlab/services), bundled with
 * esbuild at book build time and served by the site itself.
 */

import { KernelAPI, KernelConnection } from "@jupyterlab/services/lib/kernel";
import { ServerConnection } from "@jupyterlab/services/lib/serverconnection";

const CONFIG_FILE = "k2l-live.json";
const HOW_TO_START =
  "Live code runs on a Jupyter kernel on your own machine, in the course's environment. " +
  "In the course's folder run  .venv/bin/k2l serve  (after python3.11 bootstrap.py book) " +
  "and open this page at the address it prints.";

/** The site's root URL (Sphinx writes it on <html data-content_root>). */
function siteRoot() {
  const root = document.documentElement.dataset.content_root || "./";
  return new URL(root, window.location.href);
}

const KERNEL_DIED =
  "Your kernel stopped (it ran out of memory, or the code ended its process), and what the cells " +
  "computed is gone. Press Run again: a new kernel starts and runs the earlier cells first.";
const SERVER_GONE =
  "Lost the connection to k2l serve: it was stopped, or its Jupyter server ended. Start it again " +
  "(.venv/bin/k2l serve, at this page's address) and press Run: a new kernel starts and runs the earlier cells first.";

/** The chapter's notebook (the executed .ipynb Sphinx publishes in _sources/). */
function notebookUrl() {
  const link = document.querySelector('a[href$=".ipynb"][href*="_sources/"]');
  return link ? new URL(link.getAttribute("href"), window.location.href) : null;
}

/** Source of a notebook cell as one string. */
function cellSource(cell) {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

/** Code compared without trailing whitespace, to match page cells to notebook cells. */
function normalized(code) {
  return code
    .split("\n")
    .map((line) => line.replace(/\s+$/, ""))
    .join("\n")
    .trim();
}

/** Strip ANSI colour codes from a traceback. */
function plain(text) {
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "");
}

class LiveCell {
  /**
   * @param {number} index position among the notebook's code cells
   * @param {string} source the notebook's source of the cell
   * @param {HTMLElement|null} element the page's cell (null: not shown on the page)
   */
  constructor(index, source, element) {
    this.index = index;
    this.source = source;
    this.element = element;
    this.executed = false;
    if (element) this.render();
  }

  code() {
    return this.editor ? this.editor.value : this.source;
  }

  render() {
    const input = this.element.querySelector(".cell_input");
    const box = document.createElement("div");
    box.className = "k2l-live-cell";
    this.editor = document.createElement("textarea");
    this.editor.className = "k2l-live-editor";
    this.editor.spellcheck = false;
    this.editor.defaultValue = this.source; // also its text, which finds the cell
    this.editor.rows = Math.max(1, this.source.split("\n").length);
    this.editor.setAttribute("aria-label", `code cell ${this.index + 1}`);
    this.editor.addEventListener("input", () => {
      this.editor.rows = Math.max(1, this.editor.value.split("\n").length);
    });
    this.editor.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.shiftKey) {
        event.preventDefault();
        this.onRun(this);
      }
    });
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.className = "k2l-live-run";
    this.button.textContent = "Run";
    this.button.title = "Run this cell (Shift+Enter); earlier cells that have not run yet run first";
    this.button.addEventListener("click", () => this.onRun(this));
    box.append(this.editor, this.button);
    this.output = document.createElement("div");
    this.output.className = "k2l-live-output";
    this.output.setAttribute("aria-live", "polite");
    input.hidden = true;
    input.after(box);
    box.after(this.output);
  }

  /** Called with this cell when the reader runs it (set by LiveChapter). */
  onRun() {}

  clear() {
    if (!this.element) return;
    this.output.replaceChildren();
    this.stream = null;
    const stale = this.element.querySelector(".cell_output");
    if (stale) stale.hidden = true;
  }

  /** Show one IOPub message of this cell's execution. */
  show(msg) {
    const type = msg.header.msg_type;
    const content = msg.content;
    if (type === "clear_output") {
      this.output.replaceChildren();
      this.stream = null;
      return;
    }
    if (!this.element) {
      if (type === "error") this.hiddenError = content;
      return;
    }
    if (type === "stream") {
      if (!this.stream || this.stream.dataset.name !== content.name) {
        this.stream = document.createElement("pre");
        this.stream.className = `k2l-live-stream k2l-live-${content.name}`;
        this.stream.dataset.name = content.name;
        this.output.append(this.stream);
      }
      this.stream.textContent += content.text;
      return;
    }
    this.stream = null;
    if (type === "execute_result" || type === "display_data") {
      const data = content.data || {};
      if (data["image/png"]) {
        const img = document.createElement("img");
        img.src = `data:image/png;base64,${data["image/png"]}`;
        img.alt = "figure computed by this cell on your kernel";
        this.output.append(img);
      } else if (data["text/plain"] !== undefined) {
        const pre = document.createElement("pre");
        pre.className = "k2l-live-result";
        pre.textContent = data["text/plain"];
        this.output.append(pre);
      }
    } else if (type === "error") {
      this.showError(content);
    }
  }

  /** A message of the page's own (not the kernel's) in this cell's output. */
  showMessage(text) {
    if (!this.element) return;
    const pre = document.createElement("pre");
    pre.className = "k2l-live-error";
    pre.textContent = text;
    this.output.append(pre);
  }

  showError(content, prefix = "") {
    const pre = document.createElement("pre");
    pre.className = "k2l-live-error";
    pre.textContent = prefix + plain((content.traceback || [`${content.ename}: ${content.evalue}`]).join("\n"));
    this.output.append(pre);
  }
}

class LiveChapter {
  constructor(control, status) {
    this.control = control;
    this.status = status;
    this.kernel = null;
    this.cells = [];
    this.queue = Promise.resolve();
    this.abort = null; // rejects the execution under way when the kernel is lost
  }

  say(text, kind = "info") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  /** Press "Live code": make the cells editable on a kernel of their own. */
  async start() {
    this.control.disabled = true;
    let notebook;
    try {
      const url = notebookUrl();
      if (!url) throw new Error("this page has no notebook to run");
      notebook = await (await fetch(url, { cache: "no-store" })).json();
    } catch (error) {
      this.control.disabled = false;
      this.say(`could not read this chapter's notebook: ${error.message || error}`, "error");
      return;
    }
    if (!(await this.connect())) {
      this.control.disabled = false;
      return;
    }
    this.makeCells(notebook);
    this.markRun(this.cellsRun);
    document.body.classList.add("k2l-live-on");
    this.control.textContent = "Live code: on";
    this.sayReady();
    window.addEventListener("pagehide", () => this.kernel && this.kernel.shutdown().catch(() => {}));
  }

  sayReady() {
    const ran = this.cellsRun
      ? `All ${this.cellsRun} code cells of this chapter have already run on your kernel, as in the book. `
      : "";
    this.say(
      ran +
        "Cells are editable and run on your kernel (Run, or Shift+Enter). " +
        "Running a cell first runs the earlier ones that have not run yet.",
    );
  }

  /** Ask k2l serve for a kernel for this chapter; false (and a message) if there is none. */
  async connect() {
    this.say("connecting to your Jupyter server ...");
    let config;
    try {
      const response = await fetch(new URL(CONFIG_FILE, siteRoot()), { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      config = await response.json();
    } catch (error) {
      this.say(HOW_TO_START, "help");
      return false;
    }
    try {
      const settings = ServerConnection.makeSettings({
        baseUrl: config.baseUrl,
        wsUrl: config.wsUrl,
        token: config.token,
        appendToken: true,
        init: { cache: "no-store", credentials: "omit" },
      });
      this.say("starting a Python kernel on your machine ...");
      // One kernel for this page, without a manager polling the server's kernel list. The
      // notebook's name tells k2l serve the chapter: it may have a kernel ready for it.
      const chapter = notebookUrl().pathname.split("/").pop();
      const model = await KernelAPI.startNew({ name: config.kernel || "python3", path: chapter }, settings);
      const kernel = new KernelConnection({ model, serverSettings: settings });
      this.kernel = kernel;
      this.cellsRun = model.k2l_cells_run || 0;
      kernel.statusChanged.connect((_, state) => {
        document.body.dataset.k2lKernel = state;
        if (kernel === this.kernel && (state === "autorestarting" || state === "restarting" || state === "dead")) {
          this.lost(KERNEL_DIED, state === "dead" ? "dead" : "restarted");
        }
      });
      let connected = false; // the first "connecting" is the connection being made
      kernel.connectionStatusChanged.connect((_, state) => {
        if (state === "connected") connected = true;
        else if (connected && kernel === this.kernel) this.lost(SERVER_GONE, "gone");
      });
      return true;
    } catch (error) {
      this.say(`could not start a kernel: ${error.message || error}`, "error");
      return false;
    }
  }

  /**
   * The kernel is gone: say why, forget what ran on it; the next Run starts a new one.
   * @param {string} how "restarted": the server restarted it empty; once the connection
   *   has followed it (the client library does that itself), it is shut down. "dead": it
   *   is shut down. "gone": the server is gone; the connection is left to its own retries
   *   (disposing of it under them would throw).
   */
  lost(message, how) {
    const kernel = this.kernel;
    if (!kernel) return;
    this.kernel = null;
    document.body.dataset.k2lKernel = "lost";
    if (how === "restarted") {
      const follow = (_, state) => {
        if (state !== "connected") return;
        kernel.connectionStatusChanged.disconnect(follow);
        kernel.shutdown().catch(() => {});
      };
      kernel.connectionStatusChanged.connect(follow);
    } else if (how === "dead") {
      kernel.shutdown().catch(() => {});
    }
    for (const cell of this.cells) {
      cell.executed = false;
      if (cell.element) {
        cell.button.disabled = false;
        cell.button.textContent = "Run";
      }
    }
    if (this.abort) this.abort(new Error(message));
    this.say(message, "error");
  }

  markRun(n) {
    for (const cell of this.cells) cell.executed = cell.index < n;
  }

  makeCells(notebook) {
    const pageCells = Array.from(document.querySelectorAll("div.cell")).filter((el) =>
      el.querySelector(".cell_input pre"),
    );
    let next = 0;
    const codeCells = notebook.cells.filter((c) => c.cell_type === "code");
    this.cells = codeCells.map((cell, index) => {
      const source = cellSource(cell);
      let element = null;
      const shown = pageCells[next];
      if (shown && normalized(shown.querySelector(".cell_input pre").textContent) === normalized(source)) {
        element = shown;
        next += 1;
      }
      const live = new LiveCell(index, source, element);
      live.onRun = (c) => this.run(c);
      return live;
    });
  }

  /** Run a cell after the earlier ones that have not run yet (one run at a time). */
  run(cell) {
    this.queue = this.queue.then(() => this.runUpTo(cell)).catch((error) => this.say(String(error), "error"));
    return this.queue;
  }

  async runUpTo(target) {
    if (!this.kernel) {
      if (!(await this.connect())) return;
      this.markRun(this.cellsRun);
    }
    const todo = this.cells.filter((c) => c.index < target.index && !c.executed).concat([target]);
    for (const cell of todo) {
      if (cell.element) cell.button.disabled = true;
      target.button.textContent = "Running ...";
      this.say(cell === target ? "running ..." : `running earlier cell ${cell.index + 1} first ...`);
      cell.clear();
      let ok;
      try {
        ok = await this.execute(cell);
      } catch (error) {
        // the kernel was lost (this.lost said so and reset the buttons)
        target.clear();
        target.showMessage(String(error.message || error));
        return;
      }
      if (cell.element) cell.button.disabled = false;
      if (!ok) {
        target.button.textContent = "Run";
        if (cell !== target) {
          target.clear();
          target.showError(cell.hiddenError || {}, `an earlier cell (${cell.index + 1}) failed:\n`);
        }
        this.say(`cell ${cell.index + 1} failed`, "error");
        return;
      }
      cell.executed = true;
    }
    target.button.textContent = "Run";
    this.say("done");
  }

  /** Run one cell; true if it succeeded; throws if the kernel is lost meanwhile. */
  async execute(cell) {
    const future = this.kernel.requestExecute({ code: cell.code(), stop_on_error: true });
    future.onIOPub = (msg) => cell.show(msg);
    const lost = new Promise((_, reject) => {
      this.abort = reject;
    });
    try {
      const reply = await Promise.race([future.done, lost]);
      return reply.content.status === "ok";
    } catch (error) {
      if (this.kernel) throw error; // not a lost kernel: report it as it is
      throw new Error(this.status.textContent);
    } finally {
      this.abort = null;
    }
  }
}

function install() {
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  if (!article || !document.querySelector("div.cell .cell_input pre") || !notebookUrl()) return;
  const bar = document.createElement("div");
  bar.className = "k2l-live-bar";
  const control = document.createElement("button");
  control.type = "button";
  control.className = "k2l-live-control";
  control.textContent = "Live code";
  control.title = "Make this chapter's code cells editable and run them on a Jupyter kernel on your machine (k2l serve)";
  const status = document.createElement("span");
  status.className = "k2l-live-status";
  status.setAttribute("role", "status");
  bar.append(control, status);
  const heading = article.querySelector("h1");
  if (heading) heading.after(bar);
  else article.prepend(bar);
  const chapter = new LiveChapter(control, status);
  control.addEventListener("click", () => {
    if (!chapter.kernel) chapter.start();
  });
  window.k2lLive = chapter; // for the browser test and the curious reader
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", install);
else install();
