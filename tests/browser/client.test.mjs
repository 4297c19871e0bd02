// The browser package as page code uses it: import, Bridge.connect, sockets, errors, Uint8Array
// handling, ontrace, and the README's JavaScript example run as written.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startDaemon, launchBrowser, openPage, root } from "./harness.mjs";

let daemon, browser, page;

before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await openPage(browser, daemon);
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** Runs `body` in the page with the package imported as `sb`. */
function inPage(body, arg) {
  return page.evaluate(async ([source, arg]) => {
    const sb = await import("/pkg/sockbridge.js");
    return await new Function("sb", "arg", `return (async () => { ${source} })();`)(sb, arg);
  }, [body, arg]);
}

test("constants come from bridge-protocol with Linux values", async () => {
  const got = await inPage(`return [sb.AF_INET, sb.AF_INET6, sb.AF_UNIX, sb.SOCK_STREAM, sb.SOCK_DGRAM,
    sb.SOL_SOCKET, sb.SO_REUSEADDR, sb.IPPROTO_TCP, sb.TCP_NODELAY, sb.SHUT_WR, sb.ECONNREFUSED,
    sb.EWOULDBLOCK, sb.EAGAIN, sb.EAI_NONAME];`);
  assert.deepEqual(got, [2, 10, 1, 1, 2, 1, 2, 6, 1, 1, 111, 11, 11, -2]);
});

test("an echo in the page: Uint8Array and string data, addresses as arrays, EOF", async () => {
  const got = await inPage(`
    const bridge = await sb.Bridge.connect();      // the daemon that served this page
    const server = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    await server.bind(["127.0.0.1", 0]);
    await server.listen(5);
    const addr = await server.getsockname();
    const client = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    await client.connect(addr);
    const [conn, peer] = await server.accept();
    const sent = await client.send(new Uint8Array([0, 1, 2, 255]));
    const bytes = await conn.recv(16);
    await client.sendall("héllo");                  // UTF-8
    const text = await conn.recv(16);
    const [data, from] = [bytes, peer];
    await client.close();
    const eof = await conn.recv(16);
    return {
      addrIsArray: Array.isArray(addr) && addr[0] === "127.0.0.1" && typeof addr[1] === "number",
      peerMatches: JSON.stringify(from) === JSON.stringify(await conn.getpeername()),
      sent, isUint8: data instanceof Uint8Array, bytes: Array.from(data),
      text: new TextDecoder().decode(text), eofLength: eof.length, eofIsUint8: eof instanceof Uint8Array,
      fileno: [server.fileno(), client.fileno(), conn.fileno()],
      family: server.family, type: server.type,
    };`);
  assert.deepEqual(got, {
    addrIsArray: true, peerMatches: true, sent: 4, isUint8: true, bytes: [0, 1, 2, 255], text: "héllo",
    eofLength: 0, eofIsUint8: true, fileno: [3, -1, 5], family: 2, type: 1,
  });
});

test("both codecs: MessagePack by default, JSON when asked, the same bytes either way", async () => {
  const got = await inPage(`
    const run = async (options) => {
      const bridge = await sb.Bridge.connect(undefined, options);
      const server = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
      await server.bind(["127.0.0.1", 0]);
      await server.listen(1);
      const client = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
      await client.connect(await server.getsockname());
      const [conn] = await server.accept();
      const every = new Uint8Array(256 * 64).map((_, i) => i % 256);
      await client.sendall(every);
      let got = [];
      while (got.length < every.length) got.push(...await conn.recv(65536));
      bridge.close();
      return { protocol: bridge.hello.protocol, same: got.every((b, i) => b === every[i]) && got.length === every.length };
    };
    let bad;
    try { await sb.Bridge.connect(undefined, { codec: "xml" }); } catch (e) { bad = [e.name, e.message]; }
    return { packed: await run(), json: await run({ codec: "json" }), forced: await run({ codec: "msgpack" }), bad };`);
  assert.deepEqual(got, {
    packed: { protocol: "sockbridge.v1.msgpack", same: true },
    json: { protocol: "sockbridge.v1", same: true },
    forced: { protocol: "sockbridge.v1.msgpack", same: true },
    bad: ["ValueError", 'options.codec must be "msgpack" or "json"'],
  });
});

test("errors are Error objects named after the Python class, with errno and code", async () => {
  const got = await inPage(`
    const bridge = await sb.Bridge.connect();
    const probe = await bridge.socket();
    await probe.bind(["127.0.0.1", 0]);
    const closed = await probe.getsockname();
    await probe.close();
    const s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    const catchIt = async (p) => { try { await p; return null; } catch (e) { return e; } };
    const refused = await catchIt(s.connect(closed));
    const low = await catchIt(s.bind(["127.0.0.1", 80]));
    const port = await catchIt(s.connect(["127.0.0.1", 70000]));
    const negative = await catchIt(s.recv(-1));
    const bytes = await catchIt(s.sendall(42));
    s.settimeout(0.05);
    const udp = await bridge.socket(sb.AF_INET, sb.SOCK_DGRAM);
    await udp.bind(["127.0.0.1", 0]);
    udp.settimeout(0.05);
    const timeout = await catchIt(udp.recv(10));
    udp.setblocking(false);
    const wouldBlock = await catchIt(udp.recv(10));
    const describe = (e) => ({ isError: e instanceof Error, name: e.name, errno: e.errno, code: e.code,
      strerror: e.strerror, message: e.message, os: sb.isOSError(e), conn: sb.isinstance(e, "ConnectionError") });
    return { refused: describe(refused), low: { ...describe(low), hasReason: typeof low.reason === "string" },
      port: describe(port), negative: describe(negative), bytes: describe(bytes),
      timeout: describe(timeout), wouldBlock: describe(wouldBlock),
      connectEx: await s.connect_ex(closed),
      timeouts: [udp.gettimeout(), s.gettimeout(), (await bridge.socket()).gettimeout()] };`);
  assert.deepEqual(got.refused, { isError: true, name: "ConnectionRefusedError", errno: 111, code: "ECONNREFUSED",
    strerror: "Connection refused", message: "[Errno 111] Connection refused", os: true, conn: true });
  assert.equal(got.low.name, "PermissionError");
  assert.equal(got.low.code, "EACCES");
  assert.ok(got.low.hasReason);
  assert.deepEqual([got.port.name, got.port.message, got.port.os], ["OverflowError", "port must be 0-65535.", false]);
  assert.deepEqual([got.negative.name, got.negative.message], ["ValueError", "negative buffersize in recv"]);
  assert.deepEqual([got.bytes.name, got.bytes.os], ["TypeError", false]);
  assert.deepEqual([got.timeout.name, got.timeout.errno, got.timeout.message, got.timeout.os], ["TimeoutError", null, "timed out", true]);
  assert.deepEqual([got.wouldBlock.name, got.wouldBlock.errno, got.wouldBlock.code], ["BlockingIOError", 11, "EAGAIN"]);
  assert.equal(got.connectEx, 111);
  assert.deepEqual(got.timeouts, [0, 0.05, null]);
});

test("accept, recvfrom, select and makefile return what Python returns, as arrays", async () => {
  const got = await inPage(`
    const bridge = await sb.Bridge.connect();
    const a = await bridge.socket(sb.AF_INET, sb.SOCK_DGRAM);
    const b = await bridge.socket(sb.AF_INET, sb.SOCK_DGRAM);
    await a.bind(["127.0.0.1", 0]); await b.bind(["127.0.0.1", 0]);
    await a.sendto("datagram", await b.getsockname());
    const [r] = await bridge.select([a, b], [], [], 5);
    const [data, from] = await b.recvfrom(64);
    const server = await bridge.socket();
    await server.bind(["127.0.0.1", 0]); await server.listen();
    const client = await bridge.socket();
    await client.connect(await server.getsockname());
    const accepted = await server.accept();
    const [conn] = accepted;
    await client.sendall("line one\\nline two\\n");
    const f = conn.makefile();
    const lines = [new TextDecoder().decode(await f.readline()), new TextDecoder().decode(await f.readline())];
    await f.write("reply\\n"); await f.flush();
    return { readySame: r.length === 1 && r[0] === b, data: new TextDecoder().decode(data),
      fromMatches: JSON.stringify(from) === JSON.stringify(await a.getsockname()),
      acceptShape: Array.isArray(accepted) && accepted.length === 2 && accepted[0] instanceof sb.Socket,
      lines, reply: new TextDecoder().decode(await client.recv(64)), hello: bridge.hello.protocol };`);
  assert.deepEqual(got, { readySame: true, data: "datagram", fromMatches: true, acceptShape: true,
    lines: ["line one\n", "line two\n"], reply: "reply\n", hello: "sockbridge.v1.msgpack" });
});

test("ontrace sees every call with its socket, arguments, result or error, and duration", async () => {
  const events = await inPage(`
    const events = [];
    const bridge = await sb.Bridge.connect(undefined, { ontrace: (e) => events.push(e) });
    const s = await bridge.socket(sb.AF_INET, sb.SOCK_DGRAM);
    await s.bind(["127.0.0.1", 0]);
    s.settimeout(0.01);
    try { await s.recv(8); } catch (e) {}
    bridge.ontrace = null;
    await s.close();
    return events.map((e) => ({ id: e.id, phase: e.phase, method: e.method, fd: e.fd, args: e.args,
      result: e.result instanceof sb.Socket ? "Socket" : e.result instanceof Uint8Array ? "bytes" : (e.result ?? null),
      error: e.error?.name ?? null,
      timed: e.phase === "return" ? typeof e.duration === "number" && e.duration >= 0 : e.duration === undefined }));`);
  const summary = events.map((e) => `${e.phase} ${e.method} fd=${e.fd} ${JSON.stringify(e.args)} -> ${e.error ?? JSON.stringify(e.result)} ${e.timed}`);
  assert.deepEqual(summary, [
    "call socket fd=null [2,2,0] -> null true",
    'return socket fd=3 [2,2,0] -> "Socket" true',
    'call bind fd=3 [["127.0.0.1",0]] -> null true',
    'return bind fd=3 [["127.0.0.1",0]] -> null true',
    "call settimeout fd=3 [0.01] -> null true",
    "return settimeout fd=3 [0.01] -> null true",
    "call recv fd=3 [8,null] -> null true",
    "return recv fd=3 [8,null] -> TimeoutError true",
  ]);
  assert.ok(events.every((e, i) => e.id === Math.floor(i / 2) + 1), "call and return share an id");
});

test("the README's JavaScript example runs as written", async () => {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const match = readme.match(/<!-- js-example -->\s*```js\n([\s\S]*?)```/);
  assert.ok(match, "README.md has a ```js block after <!-- js-example -->");
  const example = await openPage(browser, daemon);
  await example.addScriptTag({ type: "module", content: `${match[1]}\nconsole.log("example done");` });
  const deadline = Date.now() + 10000;
  while (!example.logs.includes("example done") && !example.logs.some((l) => l.startsWith("pageerror"))) {
    assert.ok(Date.now() < deadline, `the example did not finish: ${example.logs.join(" | ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(example.logs[0] ?? "", /^echo server listening on 127\.0\.0\.1:\d+$/);
  assert.deepEqual(example.logs.slice(1), ["hello, sockets", "ConnectionRefusedError 111 ECONNREFUSED", "example done"]);
  await example.close();
});

test("arguments are Python's: no coercion, TypeError for the wrong type, truth for setblocking", async () => {
  const got = await inPage(`
    const bridge = await sb.Bridge.connect();
    const s = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM);
    const name = async (f) => { try { await f(); return "ok"; } catch (e) { return e.name; } };
    const out = {};
    out.setblockingNone = await name(() => s.setblocking());
    s.setblocking("yes");                       // truthy, as in Python: blocking
    out.afterYes = s.getblocking();
    s.setblocking(0);
    out.afterZero = s.getblocking();
    s.setblocking([]);                          // an empty tuple is false in Python
    out.afterEmpty = s.getblocking();
    out.settimeoutStr = await name(() => s.settimeout("5"));
    out.settimeoutHuge = await name(() => s.settimeout(1e19));
    out.listenStr = await name(() => s.listen("x"));
    out.listenFloat = await name(() => s.listen(1.5));
    out.recvStr = await name(() => s.recv("16"));
    out.recvNeg = await name(() => s.recv(-1));
    out.recvFlagsStr = await name(() => s.recv(16, "0"));
    out.shutdownStr = await name(() => s.shutdown("1"));
    out.selectHuge = await name(() => bridge.select([s], [], [], 1e19));
    return out;`);
  assert.deepEqual(got, {
    setblockingNone: "TypeError", afterYes: true, afterZero: false, afterEmpty: false,
    settimeoutStr: "TypeError", settimeoutHuge: "OverflowError", listenStr: "TypeError",
    listenFloat: "TypeError", recvStr: "TypeError", recvNeg: "ValueError", recvFlagsStr: "TypeError",
    shutdownStr: "TypeError", selectHuge: "OverflowError",
  });
});
