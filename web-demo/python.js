// Python in the page: Pyodide (served by the daemon from /pyodide/, pinned, nothing from a CDN)
// with a `socket` and a `select` module over sockbridge (web-demo/python/), so the socket tutorial's
// Python runs unchanged, servers and UDP included.
//
//   const python = await startPython(bridge);
//   await python.run(`from socket import *\n...`, { print: (line) => ... });
//
// Several programs may run at once (a server and its client): each `run` is its own
// `runPythonAsync`, and a blocking call suspends only its own program (JavaScript Promise
// Integration). Each program has its own globals, and its own `print`.

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

/** A call that may wait (`object[method](...args)`, a Promise), its outcome without rejecting. */
function settle(object, method, ...args) {
  try {
    return Promise.resolve(object[method](...args)).then((value) => ({ ok: true, value }), failure);
  } catch (e) {
    return Promise.resolve(failure(e));
  }
}

/** A call that answers at once (`object[method](...args)`), its outcome without throwing. */
function attempt(object, method, ...args) {
  try {
    return { ok: true, value: object[method](...args) };
  } catch (e) {
    return failure(e);
  }
}

/**
 * Loads Pyodide and installs the bridge's `socket` and `select` for `bridge` (a `Bridge`).
 * Resolves to `{ pyodide, run, setBridge }`.
 */
export async function startPython(bridge, { indexURL = "/pyodide/" } = {}) {
  if (!canRunPython()) {
    throw new Error("this browser cannot block Python on the network (no JavaScript Promise Integration)");
  }
  const { loadPyodide } = await import(`${indexURL}pyodide.mjs`);
  const pyodide = await loadPyodide({ indexURL });
  const dir = "/lib/sockbridge";
  pyodide.FS.mkdirTree(dir);
  for (const name of ["socket.py", "select.py"]) {
    const response = await fetch(new URL(`python/${name}`, import.meta.url));
    if (!response.ok) throw new Error(`python/${name}: HTTP ${response.status}`);
    pyodide.FS.writeFile(`${dir}/${name}`, await response.text());
  }
  // The Python side reads `bridge` at each call, so a page can give it a new session per run.
  const state = { bridge, sb, names: Object.keys(sb), settle, attempt };
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
for name in ["socket", "select"]:
    spec = importlib.util.spec_from_file_location(name, f"${dir}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
`);
  // A program's own `print`: its lines go to the `print` it was run with.
  const makePrint = pyodide.runPython(`
import builtins, io

class _Lines(io.TextIOBase):
    def __init__(self, emit):
        self.emit, self.pending = emit, ""
    def writable(self):
        return True
    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\\n")
        for line in lines:
            self.emit(line)
        return len(text)
    def flush(self):
        if self.pending:
            self.emit(self.pending)
            self.pending = ""

def make_print(emit):
    stream = _Lines(emit)
    def print(*args, sep=" ", end="\\n", file=None, flush=False):
        builtins.print(*args, sep=sep, end=end, file=file or stream, flush=flush)
    print.flush = stream.flush
    return print

make_print`);
  /**
   * Runs a program; `print` receives each line it prints. Resolves when it ends; rejects with the
   * Python traceback if it raises.
   */
  async function run(code, { print = console.log } = {}) {
    const globals = pyodide.toPy({ __name__: "__main__" });
    const programPrint = makePrint(print);
    globals.set("print", programPrint);
    try {
      return await pyodide.runPythonAsync(code, { globals });
    } finally {
      programPrint.flush();
      programPrint.destroy();
      globals.destroy();
    }
  }
  /** The session later programs' sockets are made in. */
  function setBridge(next) {
    state.bridge = next;
  }
  return { pyodide, run, setBridge };
}
