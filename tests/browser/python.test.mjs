// Python in the page: Pyodide, served by the daemon, with the bridge's `socket` and `select`
// modules, running the socket tutorial's code unchanged in real Chromium against a real daemon.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDaemon, launchBrowser, openPage } from "./harness.mjs";

let daemon, browser, page;

before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await openPage(browser, daemon);
  // One Python for the tests, as a lesson page keeps one.
  await page.evaluate(async () => {
    const sb = await import("/pkg/sockbridge.js");
    const { startPython } = await import("/python.js");
    const bridge = await sb.Bridge.connect();
    window.python = await startPython(bridge);
  });
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/**
 * Runs Python programs at once in the page; resolves to the lines each printed to its standard
 * output (then its error, if it ended by one). With `after`, the second program starts once the
 * first has made that file (in Pyodide's own filesystem), as a student starts the client once the
 * server is up. Programs still running after 60 s are stopped (their lines then end in
 * KeyboardInterrupt), so a broken test fails instead of hanging.
 */
function programs(sources, after) {
  return page.evaluate(async ([sources, after]) => {
    const started = [];
    const run = async (source) => {
      const lines = [];
      const program = window.python.start(source, { print: (line) => lines.push(line), printError: () => {} });
      started.push(program);
      try {
        await program.done;
      } catch (e) {
        lines.push(`error: ${e.message}`);
      }
      return lines;
    };
    const deadline = setTimeout(() => started.forEach((p) => p.stop()), 60_000);
    const first = run(sources[0]);
    if (after) {
      const FS = window.python.pyodide.FS;
      for (let i = 0; i < 1000 && !FS.analyzePath(after).exists; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    const rest = sources.slice(1).map(run);
    const out = await Promise.all([first, ...rest]);
    clearTimeout(deadline);
    return out;
  }, [sources, after]);
}

test("the tutorial's TCP echo server and client run unchanged, at once, as two programs", async () => {
  // The server tells the client its port through the page (a file in Pyodide's own filesystem).
  const server = `
from socket import *
import os
server = socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 0))
server.listen(5)
port = server.getsockname()[1]   # before open(): the client starts once the file exists
with open('/tmp/port', 'w') as f:
    f.write(str(port))
conn, addr = server.accept()
print('connected from', addr[0])
while True:
    data = conn.recv(1024)
    if not data:
        break
    conn.sendall(data)
conn.close()
server.close()
print('server done')
`;
  const client = `
from socket import *
port = int(open('/tmp/port').read())
s = socket(AF_INET, SOCK_STREAM)
s.connect(('127.0.0.1', port))
for word in [b'hello', b'sockets']:
    s.sendall(word)
    print(s.recv(1024))
s.close()
`;
  const [serverOut, clientOut] = await programs([server, client], "/tmp/port");
  assert.deepEqual(clientOut, ["b'hello'", "b'sockets'"]);
  assert.deepEqual(serverOut, ["connected from 127.0.0.1", "server done"]);
});

test("UDP, errors with the page's errno, timeouts, makefile, select and the module functions", async () => {
  const [out] = await programs([`
import socket, select, errno
from socket import *
# UDP keeps datagram boundaries; recvfrom gives (data, address).
a = socket(AF_INET, SOCK_DGRAM); a.bind(('127.0.0.1', 0))
b = socket(AF_INET, SOCK_DGRAM); b.bind(('127.0.0.1', 0))
b.sendto(b'one', a.getsockname()); b.sendto(b'two', a.getsockname())
data, addr = a.recvfrom(100)
print(data, addr == b.getsockname(), a.recv(100))
# A refused connection is ConnectionRefusedError, with this page's errno number for it.
probe = socket(); probe.bind(('127.0.0.1', 0)); closed = probe.getsockname(); probe.close()
try:
    socket().connect(closed)
except ConnectionRefusedError as e:
    print('refused', e.errno == errno.ECONNREFUSED, isinstance(e, OSError))
print('connect_ex', socket().connect_ex(closed) == errno.ECONNREFUSED)
# Timeouts: TimeoutError('timed out'); non-blocking: BlockingIOError.
a.settimeout(0.05)
try:
    a.recv(10)
except TimeoutError as e:
    print('timeout', e, timeout is TimeoutError, a.gettimeout())
a.setblocking(False)
try:
    a.recv(10)
except BlockingIOError as e:
    print('would block', e.errno == errno.EAGAIN, a.getblocking())
a.settimeout(None)
print('blocking again', a.gettimeout(), a.getblocking())
a.setblocking(False)
# makefile in text mode, select, create_server/create_connection, context managers.
with create_server(('127.0.0.1', 0)) as srv:
    c = create_connection(srv.getsockname())
    conn, _ = srv.accept()
    print('select', select.select([conn], [], [], 0) == ([], [], []))
    c.sendall(b'line one\\nline two\\n')
    print('select', select.select([conn], [], [], 5)[0] == [conn])
    f = conn.makefile()
    print(repr(f.readline()), repr(f.readline()))
    f.close(); conn.close(); c.close()
print(gethostbyname('localhost'), isinstance(a, SocketType))
# CPython's enums and module functions.
print(repr(a.family), repr(a.type), str(AF_INET), repr(getaddrinfo('127.0.0.1', 80, AF_INET, SOCK_STREAM)[0][:2]))
print(inet_ntop(AF_INET6, inet_pton(AF_INET6, '::1')), inet_pton(AF_INET, '127.0.0.1'), getservbyname('http'),
      getservbyport(13), getprotobyname('udp'))
try:
    socket().bind(('127.0.0.1', 80))
except PermissionError as e:
    print('policy', e.errno == errno.EACCES)
`]);
  assert.deepEqual(out, [
    "b'one' True b'two'",
    "refused True True",
    "connect_ex True",
    "timeout timed out True 0.05",
    "would block True False",
    "blocking again None True",
    "select True",
    "select True",
    "'line one\\n' 'line two\\n'",
    "127.0.0.1 True",
    "<AddressFamily.AF_INET: 2> <SocketKind.SOCK_DGRAM: 2> 2 (<AddressFamily.AF_INET: 2>, <SocketKind.SOCK_STREAM: 1>)",
    "::1 b'\\x7f\\x00\\x00\\x01' 80 daytime 17",
    "policy True",
  ]);
});

test("the standard library over the bridge: socketserver, http.server with urllib, selectors", async () => {
  const server = `
import socketserver, http.server, os
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.request.recv(1024).upper())
with socketserver.TCPServer(('127.0.0.1', 0), Echo) as tcp, \\
        http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler) as web:
    os.makedirs('/srv', exist_ok=True); os.chdir('/srv')
    with open('/srv/hello.txt', 'w') as f:
        f.write('hello over http')
    with open('/tmp/ports', 'w') as f:
        f.write(f'{tcp.server_address[1]} {web.server_address[1]}')
    tcp.handle_request()
    web.handle_request()
print('served')
`;
  const client = `
import selectors, socket, urllib.request
tcp_port, web_port = map(int, open('/tmp/ports').read().split())
with socket.create_connection(('127.0.0.1', tcp_port)) as s:
    s.sendall(b'shout')
    print(s.recv(100))
with urllib.request.urlopen(f'http://127.0.0.1:{web_port}/hello.txt') as r:
    print(r.status, r.read())
# A selectors echo server with two clients, in one program.
sel = selectors.DefaultSelector()
srv = socket.create_server(('127.0.0.1', 0)); srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
clients = [socket.create_connection(srv.getsockname()) for _ in range(2)]
for i, c in enumerate(clients):
    c.sendall(b'ping %d' % i)
echoed = 0
while echoed < 2:
    for key, _ in sel.select(timeout=5):
        if key.fileobj is srv:
            conn, _ = srv.accept()
            sel.register(conn, selectors.EVENT_READ)
        else:
            data = key.fileobj.recv(100)
            key.fileobj.sendall(data)
            echoed += 1
print(sorted(c.recv(100) for c in clients), type(sel).__name__)
# select.poll directly.
import select
p = select.poll()
p.register(clients[0], select.POLLIN)
print('poll', p.poll(0), clients[0].send(b'x') and None)
conn0 = [k.fileobj for k in sel.get_map().values() if k.fileobj is not srv][0]
p2 = select.poll(); p2.register(conn0.fileno(), select.POLLIN | select.POLLOUT)
print('poll', sorted(p2.poll(5000)) == [(conn0.fileno(), select.POLLIN | select.POLLOUT)])
`;
  const [serverOut, clientOut] = await programs([server, client], "/tmp/ports");
  assert.deepEqual(serverOut, ["served"]);
  assert.deepEqual(clientOut, [
    "b'SHOUT'", "200 b'hello over http'", "[b'ping 0', b'ping 1'] PollSelector", "poll [] None", "poll True",
  ]);
});

test("socketserver: UDPServer, serve_forever stopped by shutdown() from another program; no threads, said why", async () => {
  // A module both programs import: how two programs of one interpreter share an object.
  await page.evaluate(() => window.python.pyodide.runPython(
    "import sys, types\nsys.modules['shared'] = types.ModuleType('shared')\nsys.modules['shared'].server = None"));
  const server = `
import socketserver, shared
class Upper(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data.upper(), self.client_address)
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.readline())
with socketserver.UDPServer(('127.0.0.1', 0), Upper) as udp:
    open('/tmp/udp-port', 'w').write(str(udp.server_address[1]))
    udp.handle_request()
    print('udp served one')
with socketserver.TCPServer(('127.0.0.1', 0), Echo) as tcp:
    shared.server = tcp
    tcp.serve_forever(poll_interval=0.05)
    print('serve_forever returned')
`;
  const client = `
import socket, shared, time, socketserver, asyncio
port = int(open('/tmp/udp-port').read())
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b'quiet', ('127.0.0.1', port))
print(u.recvfrom(100)[0])
for _ in range(1000):
    if shared.server is not None:
        break
    time.sleep(0.01)
else:
    raise RuntimeError('the server did not start')
for line in [b'one\\n', b'two\\n']:
    with socket.create_connection(shared.server.server_address) as c:
        c.sendall(line)
        print(c.recv(100))
shared.server.shutdown()
print('shut down')
try:
    socketserver.ThreadingTCPServer(('127.0.0.1', 0), socketserver.BaseRequestHandler).process_request(None, None)
except RuntimeError as e:
    print('threads:', e)
try:
    socketserver.ForkingTCPServer(('127.0.0.1', 0), socketserver.BaseRequestHandler).process_request(None, None)
except OSError as e:
    print('forking:', e.strerror)
async def serve():
    await asyncio.start_server(lambda r, w: None, '127.0.0.1', 0)
try:
    await serve()
except NotImplementedError as e:
    print('asyncio:', e)
`;
  const [serverOut, clientOut] = await programs([server, client], "/tmp/udp-port");
  assert.deepEqual(serverOut, ["udp served one", "serve_forever returned"]);
  assert.deepEqual(clientOut, [
    "b'QUIET'", "b'one\\n'", "b'two\\n'", "shut down",
    "threads: a web page's Python has no threads (Pyodide runs on the page's one thread): run the work as a second program, or serve several clients with selectors",
    "forking: a web page's Python cannot fork (a page has no processes): run the work as a second program",
    "asyncio: asyncio's network calls do not go through sockbridge (its event loop is the browser's): use blocking sockets, selectors or socketserver, which do",
  ]);
});

test("Stop ends a program blocked in accept or recv, as Ctrl-C, and closes its sockets", async () => {
  const out = await page.evaluate(async () => {
    const lines = { server: [], client: [], sleeper: [] };
    const errors = { server: [], client: [], sleeper: [] };
    const start = (name, code) => window.python.start(code, {
      name: `${name}.py`, print: (l) => lines[name].push(l), printError: (l) => errors[name].push(l),
    });
    // The tutorial's server: it never ends by itself.
    const server = start("server", `
from socket import *
import sys
server = socket(AF_INET, SOCK_STREAM)
server.bind(('127.0.0.1', 0))
server.listen(5)
open('/tmp/stop-port', 'w').write(str(server.getsockname()[1]))
while True:
    conn, addr = server.accept()
    print('accepted')
    sys.stdout.write('a line through sys.stdout\\n')
    conn.sendall(conn.recv(1024))
    conn.close()
`);
    await server.waiting;
    const client = start("client", `
from socket import *
port = int(open('/tmp/stop-port').read())
s = socket(AF_INET, SOCK_STREAM)
s.connect(('127.0.0.1', port))
s.sendall(b'ping')
print(s.recv(1024))
waiting = socket(AF_INET, SOCK_STREAM)
waiting.connect(('127.0.0.1', port))   # accepted, never answered: the server waits in recv
print('blocked in recv')
print(repr(waiting.recv(1024)))        # b'' once the stopped server's sockets are closed
probe = socket(AF_INET, SOCK_STREAM)
print('connect after stop', probe.connect_ex(('127.0.0.1', port)) != 0)
`);
    const sleeper = start("sleeper", "import time\ntry:\n    time.sleep(3600)\nexcept KeyboardInterrupt as e:\n    print('woken', e)\n    raise\n");
    await sleeper.waiting;
    for (let i = 0; !lines.client.includes("blocked in recv"); i++) {
      if (i === 1000) throw new Error(`the client did not block: ${JSON.stringify({ lines, errors })}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    server.stop();
    sleeper.stop();
    const outcome = (p) => p.done.then(() => "ended", (e) => `${e.type} at line ${e.line}: ${e.message}`);
    return {
      lines, errors, server: await outcome(server), client: await outcome(client), sleeper: await outcome(sleeper),
    };
  });
  assert.deepEqual(out.lines.server, ["accepted", "a line through sys.stdout", "accepted", "a line through sys.stdout"]);
  assert.equal(out.server, "KeyboardInterrupt at line 12: KeyboardInterrupt: stopped (the Stop button)");
  // Its traceback, as CPython prints one for Ctrl-C: the program's own line, no machinery.
  assert.deepEqual(out.errors.server, [
    "Traceback (most recent call last):",
    '  File "server.py", line 12, in <module>',
    "    conn.sendall(conn.recv(1024))",
    "                 ~~~~~~~~~^^^^^^",
    "KeyboardInterrupt: stopped (the Stop button)",
  ]);
  // The client, blocked in recv on a socket of the stopped server, sees it close.
  assert.deepEqual(out.lines.client, ["b'ping'", "blocked in recv", "b''", "connect after stop True"]);
  assert.equal(out.client, "ended");
  assert.deepEqual(out.lines.sleeper, ["woken stopped (the Stop button)"]);
  assert.match(out.sleeper, /^KeyboardInterrupt at line 3: /);
});

test("a program that swallows Stop's KeyboardInterrupt (a bare except) is ended, and the page stays responsive", async () => {
  const out = await page.evaluate(async () => {
    const lines = [];
    const program = window.python.start(`
from socket import *
s = socket(); s.bind(('127.0.0.1', 0)); s.listen()
caught = 0
while True:
    try:
        s.accept()
    except:          # a bare except swallows Ctrl-C too
        caught += 1
        print('caught', caught)
`, { print: (l) => lines.push(l) });
    await program.waiting;
    program.stop();
    // Timers still run: the page's one thread is not spinning.
    const timer = await new Promise((resolve) => setTimeout(() => resolve("timer ran"), 300));
    const state = await Promise.race([program.done.then(() => "ended"), new Promise((r) => setTimeout(() => r("never returns"), 300))]);
    return { lines, timer, state, sockets: program.sockets.size };
  });
  assert.deepEqual(out, { lines: ["caught 1"], timer: "timer ran", state: "never returns", sockets: 0 });
});

test("the playground runs Python: the tutorial's calls, with the live view drawing them", async () => {
  const tab = await openPage(browser, daemon, { width: 1400, height: 1000 });
  await tab.goto(`${daemon.http}?lang=en#/playground`);
  // Python is the code language where the browser can run it.
  assert.equal(await tab.getAttribute('.languages [data-language="python"]', "aria-selected"), "true");
  assert.match(await tab.inputValue("textarea.editor"), /^# Python/);
  await tab.click("button.run");
  await tab.waitForFunction(() => ["done", "error"].includes(document.querySelector(".status").dataset.state), null,
    { timeout: 120_000 });
  const output = await tab.textContent("pre.output");
  await tab.screenshot({ path: new URL("./artifacts/python-playground-en.png", import.meta.url).pathname, fullPage: true });
  assert.equal(await tab.getAttribute(".status", "data-state"), "done", output);
  const lines = output.trim().split("\n");
  assert.match(lines[0], /^listening on \('127\.0\.0\.1', \d+\)$/);
  assert.match(lines[1], /^connection from \('127\.0\.0\.1', \d+\)$/);
  assert.equal(lines[2], "b'hello, sockets'");
  assert.match(lines[3], /^PermissionError \[Errno \d+\] Permission denied: /);
  // The live view drew the Python program's calls.
  const diagram = await tab.textContent(".diagram");
  for (const call of ["bind", "listen", "accept", "connect", "sendall", "recv"]) {
    assert.ok(diagram.includes(call), `${call} in the diagram`);
  }
  // A Python error shows as Python's traceback, with the program's line.
  await tab.fill("textarea.editor", "from socket import *\nsocket().recv(-1)\n");
  await tab.click("button.run");
  await tab.waitForFunction(() => document.querySelector(".status").dataset.state === "error");
  const traceback = await tab.textContent("pre.output");
  assert.deepEqual(traceback.trim().split("\n"), [
    "Traceback (most recent call last):",
    '  File "playground.py", line 2, in <module>',
    "    socket().recv(-1)",
    "    ~~~~~~~~~~~~~^^^^",
    "ValueError: negative buffersize in recv",
  ]);
  assert.deepEqual(await tab.$$eval(".gutter .err", (m) => m.map((n) => n.textContent)), ["2"]);
  await tab.close();
});
