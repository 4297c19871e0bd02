// Python in the page: Pyodide (served by the daemon from /pyodide/, pinned, nothing from a CDN)
// with a `socket` and a `select` module over sockbridge (web-demo/python/), so the socket tutorial's
// Python runs unchanged, servers and UDP included.
//
//   const python = await startPython(bridge);
//   const server = python.start(serverCode, { name: "server.py", print: (line) => ... });
//   await server.waiting;            // the server waits in accept(): start its client
//   const client = python.start(clientCode, { name: "client.py", print: (line) => ... });
//   await client.done;
//   server.stop();                   // KeyboardInterrupt in accept(); its sockets are closed
//
// Several programs run at once: each is its own `runPythonAsync`, and a blocking call suspends only
// its own program (JavaScript Promise Integration). Each has its own globals, output and sockets.

import * as sb from "./pkg/sockbridge.js";

/** Whether this browser can block Python on a Promise (JSPI): without it, no socket call can wait. */
export function canRunPython() {
  return typeof WebAssembly.Suspending === "function" && typeof WebAssembly.promising === "function";
}

/** A bridge error as plain fields, for the Python side to raise as Python does. */
function failure(e) {
  return {
    ok: false,
    name: e?.name ?? "Error",
    message: String(e?.message ?? e),
    // undefined (Python's None), not null (pyodide.ffi.jsnull)
    errno: e?.errno ?? undefined,
    code: e?.code ?? undefined,
    strerror: e?.strerror ?? undefined,
    reason: e?.reason ?? undefined,
  };
}

/**
 * How a program ended when it did not end well: `type` (the Python exception's class name,
 * "KeyboardInterrupt" after Stop), `line` (the program's line it was at, or null) and `traceback`
 * (as CPython prints it; the program has printed it to its standard error already).
 */
export class ProgramError extends Error {
  constructor({ name, message, line, traceback }) {
    super(message ? `${name}: ${message}` : name);
    this.name = "ProgramError";
    this.type = name;
    this.line = line ?? null;
    this.traceback = traceback;
  }
}

/** What every call of a stopped program gets: Python's KeyboardInterrupt, as Ctrl-C gives. */
const STOPPED = Object.freeze({
  ok: false, name: "KeyboardInterrupt", message: "stopped (the Stop button)",
  errno: undefined, code: undefined, strerror: undefined, reason: undefined,
});

// `sleep` is a call like the others, so a sleeping program wakes at Stop.
const timers = { sleep: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)) };

/** The calls in which a program waits for another program or a peer: the first marks it `waiting`. */
const WAITS = new Set(["accept", "recv", "recvfrom", "select", "sleep"]);

/**
 * One running Python program: the session its sockets are made in, the sockets it made (closed when
 * it is stopped), and its Stop. Python reaches it through `_sockbridge_run.program()`.
 */
export class Program {
  #stop;
  #waited;
  constructor(bridge, name = "<exec>", host = null) {
    this.bridge = bridge;
    this.name = name;
    /** The host of the session's private network the program runs on (null: the first, or none). */
    this.host = host;
    this.sockets = new Set();
    this.stopped = false;
    this.interrupted = false; // KeyboardInterrupt has been raised in it once
    this.stopping = new Promise((resolve) => { this.#stop = resolve; });
    /** Resolves when the program first waits for a peer (in accept, recv, select...). */
    this.waiting = new Promise((resolve) => { this.#waited = resolve; });
    /** Set by `start`: resolves when the program ends, rejects with its Python error. */
    this.done = null;
    /** Called with each socket the program makes or accepts (the lessons name its holder with it). */
    this.onadopt = null;
  }

  /**
   * `object[method](...args)`, a call that may wait: its outcome, without rejecting.
   *
   * After Stop, the first call (or the one waiting) raises KeyboardInterrupt. A program that catches
   * it (a bare `except:` does) and calls again is ended as a second Ctrl-C would not end it but a
   * kill would: the call never returns. Answering each call at once instead would spin the page's
   * one thread on microtasks, and the page would freeze.
   */
  settle(object, method, ...args) {
    if (this.stopped) {
      if (this.interrupted) return new Promise(() => {});
      this.interrupted = true;
      return Promise.resolve(STOPPED);
    }
    if (object === null || object === undefined) {
      return Promise.resolve(failure({ name: "ConnectionError", message: "this program has no bridge session" }));
    }
    if (WAITS.has(method)) this.#waited(method);
    let outcome;
    try {
      outcome = Promise.resolve(object[method](...args)).then((value) => ({ ok: true, value }), failure);
    } catch (e) {
      outcome = Promise.resolve(failure(e));
    }
    return Promise.race([outcome, this.stopping]).then((o) => {
      if (o === STOPPED) this.interrupted = true;
      return o;
    });
  }

  /** `object[method](...args)`, a call that answers at once: its outcome, without throwing. */
  attempt(object, method, ...args) {
    if (this.stopped) return STOPPED;
    try {
      return { ok: true, value: object[method](...args) };
    } catch (e) {
      return failure(e);
    }
  }

  /** `time.sleep(seconds)` of this program: ends early, as KeyboardInterrupt, when it is stopped. */
  sleep(seconds) {
    return this.settle(timers, "sleep", seconds);
  }

  /** A socket the program made or accepted: closed if the program is stopped. */
  adopt(socket) {
    this.sockets.add(socket);
    this.onadopt?.(socket);
  }

  forget(socket) {
    this.sockets.delete(socket);
  }

  /**
   * Ends the program as Ctrl-C would: the call it waits in, and every later one, raises
   * KeyboardInterrupt; its sockets are closed now, so its peers see them close.
   */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.#stop(STOPPED);
    this.#waited("stopped");
    this.closeSockets();
  }

  /** Closes every socket the program holds (at Stop, and at its end, as a process's exit does). */
  closeSockets() {
    for (const socket of this.sockets) socket.close().catch(() => {});
    this.sockets.clear();
  }
}

/**
 * Loads Pyodide and installs the bridge's `socket` and `select`; `bridge` (a `Bridge`) is the
 * session of programs started without one. Resolves to `{ pyodide, start, run, setBridge }`.
 */
export async function startPython(bridge, { indexURL = "/pyodide/" } = {}) {
  if (!canRunPython()) {
    throw new Error("this browser cannot block Python on the network (no JavaScript Promise Integration)");
  }
  const { loadPyodide } = await import(`${indexURL}pyodide.mjs`);
  const pyodide = await loadPyodide({ indexURL });
  const dir = "/lib/sockbridge";
  pyodide.FS.mkdirTree(dir);
  for (const name of ["socket.py", "select.py", "_sockbridge_run.py"]) {
    const response = await fetch(new URL(`python/${name}`, import.meta.url));
    if (!response.ok) throw new Error(`python/${name}: HTTP ${response.status}`);
    pyodide.FS.writeFile(`${dir}/${name}`, await response.text());
  }
  const state = { sb, names: Object.keys(sb), program: new Program(bridge) };
  pyodide.registerJsModule("_sockbridge", state);
  pyodide.runPython(`
import importlib.util, sys
# Modules that took Pyodide's socket or select when imported take the bridge's when imported again.
# (asyncio keeps Pyodide's: its event loop is the browser's, and it has no sockets of its own here.)
for name in ["socket", "select", "selectors", "socketserver", "http.client", "http.server",
             "urllib.request"]:
    sys.modules.pop(name, None)
# Installed by name, ahead of the import system: Pyodide's select is built into the interpreter,
# which the import system finds before any file.
for name in ["_sockbridge_run", "socket", "select"]:
    spec = importlib.util.spec_from_file_location(name, f"${dir}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
`);
  const runner = pyodide.runPython("import _sockbridge_run; _sockbridge_run.run");

  /**
   * Starts a program; returns its `Program` at once. `print` receives each line it writes to
   * standard output, `printError` each line of standard error; `name` is its file name in
   * tracebacks; `host` is the host of the session's private network it runs on (its sockets are
   * made there, and `gethostname()` names it); `onadopt` is called with each socket it makes or
   * accepts. `program.done` resolves when it ends, or rejects with a `ProgramError`.
   */
  function start(code, {
    bridge = state.program.bridge, print = console.log, printError = print, name = "<exec>", onadopt = null, host = null,
  } = {}) {
    const program = new Program(bridge, name, host);
    program.onadopt = onadopt;
    const globals = pyodide.toPy({ code, program, out: print, err: printError, name, runner });
    program.done = pyodide.runPythonAsync("await runner(code, program, out, err, name)",
      { globals, filename: "<sockbridge>" }).then((ended) => {
      if (ended === undefined) return;
      const failure = ended.toJs({ dict_converter: Object.fromEntries });
      ended.destroy();
      throw new ProgramError(failure);
    }).finally(() => {
      globals.destroy();
      program.closeSockets();
    });
    return program;
  }

  /** Runs a program to its end (see `start`). */
  function run(code, options) {
    return start(code, options).done;
  }

  /** The session of programs started without a `bridge`. */
  function setBridge(next) {
    state.program = new Program(next);
  }
  return { pyodide, start, run, setBridge };
}
