// The live view: a sequence diagram (page, daemon and peer lanes) and a socket table, drawn from
// the bridge's trace events (bridge.ontrace) as the code runs. Where the session has a private
// network (`watch`), the network lane shows the packets the kernel really sent, read from the
// daemon's capture, and the table the kernel's TCP state of each socket; nothing is guessed.

import { repr } from "./repr.js";

const LANE = { page: 16.66, daemon: 50, peer: 83.33 };
/** Closed sockets the table keeps after their fd number was taken again. */
const MAX_HISTORY = 100;
const FAMILY = { 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6" };
const TYPE = { 1: "SOCK_STREAM", 2: "SOCK_DGRAM" };
const WAITS = new Set(["accept", "connect", "recv", "recvfrom", "send", "sendall", "sendto", "select", "readline", "read"]);

/** Constant names by value, for one prefix of the package's exports (`AF_`, `SO_`, ...). */
function namesFor(sb, prefix) {
  const names = new Map();
  for (const [name, value] of Object.entries(sb)) {
    if (name.startsWith(prefix) && typeof value === "number" && !names.has(value)) names.set(value, name);
  }
  return names;
}

/** Arguments shown with the names the code used: socket(AF_INET, SOCK_STREAM), not socket(2, 1, 0). */
function namer(sb) {
  const af = namesFor(sb, "AF_"), sock = namesFor(sb, "SOCK_"), shut = namesFor(sb, "SHUT_"), msg = namesFor(sb, "MSG_");
  const levels = new Map([[sb.SOL_SOCKET, ["SOL_SOCKET", "SO_"]], [sb.IPPROTO_TCP, ["IPPROTO_TCP", "TCP_"]],
    [sb.IPPROTO_IP, ["IPPROTO_IP", "IP_"]], [sb.IPPROTO_IPV6, ["IPPROTO_IPV6", "IPV6_"]]]);
  const options = new Map([...levels.values()].map(([, prefix]) => [prefix, namesFor(sb, prefix)]));
  const flags = (n) => {
    const set = [...msg].filter(([bit]) => n & bit).map(([, name]) => name);
    return set.length ? set.join(" | ") : n;
  };
  const type = (n) => {
    const base = n & ~(sb.SOCK_NONBLOCK | sb.SOCK_CLOEXEC);
    return [sock.get(base) ?? base, ...(n & sb.SOCK_NONBLOCK ? ["SOCK_NONBLOCK"] : [])].join(" | ");
  };
  const name = (map, n) => ({ name: map.get(n) ?? n });
  return (method, args) => {
    const a = [...args];
    switch (method) {
      case "socket":
        if (a[2] === 0) a.pop();
        return [name(af, a[0]), { name: type(a[1]) }, ...a.slice(2)];
      case "setsockopt":
      case "getsockopt": {
        const [level, prefix] = levels.get(a[0]) ?? [a[0], null];
        const option = prefix ? options.get(prefix).get(a[1]) ?? a[1] : a[1];
        return [{ name: level }, { name: option }, ...a.slice(2)];
      }
      case "shutdown":
        return [name(shut, a[0])];
      case "settimeout":
        return [a[0] ?? null]; // settimeout(None)
      case "recv":
      case "recvfrom":
      case "send":
        if (typeof a[1] === "number" && a[1] !== 0) a[1] = { name: flags(a[1]) };
        return a;
      default:
        return a;
    }
  };
}

/** Short text for an argument or result in the diagram. */
function brief(value, Socket) {
  if (value && typeof value === "object" && "name" in value && Object.keys(value).length === 1) return String(value.name);
  if (Socket && value instanceof Socket) return `socket fd ${value.fileno()}`;
  if (Array.isArray(value) && value.length === 2 && Socket && value[0] instanceof Socket) {
    return `(socket fd ${value[0].fileno()}, ${repr(value[1], Socket)})`;
  }
  if (value instanceof Uint8Array) {
    const text = repr(value.subarray(0, 24));
    return value.length > 24 ? `${text.slice(0, -1)}…' (${value.length} B)` : text;
  }
  if (typeof value === "string" && value.length > 28) return repr(value.slice(0, 28) + "…");
  if (Array.isArray(value) && value.some((v) => Array.isArray(v) && v.some((s) => s instanceof Socket))) {
    return "[" + value.map((list) => "[" + list.map((s) => `fd ${s.fileno()}`).join(", ") + "]").join(", ") + "]";
  }
  return repr(value, Socket);
}

function argsText(args, Socket) {
  const shown = [...args];
  // Optional arguments left out arrive as undefined: show the call as it was written.
  while (shown.length && shown.at(-1) === undefined) shown.pop();
  return shown.map((a) => brief(a, Socket)).join(", ");
}

function address(a) {
  if (a === undefined || a === null) return "";
  if (typeof a === "string") return a === "" ? "(unnamed)" : a;
  return a.length >= 4 ? `[${a[0]}]:${a[1]}` : `${a[0]}:${a[1]}`;
}

/** The tag that names the program holding a socket (where several share a session). */
function ownerTag(program) {
  const tag = document.createElement("span");
  tag.className = "owner";
  tag.textContent = program;
  return tag;
}

/** The name a call is drawn with: a makefile object's methods as `file.close`, so they are not
 * taken for the socket's. */
function callee(e) {
  return e.object === "file" ? `file.${e.method}` : e.method;
}

/** Text for screen readers only. */
function srOnly(text) {
  const span = document.createElement("span");
  span.className = "sr-only";
  span.textContent = text;
  return span;
}

export class LiveView {
  /** `sb` is the sockbridge package: its Socket class and constants. */
  constructor(diagram, table, text, sb) {
    this.diagram = diagram;
    this.table = table;
    this.text = text; // the UI strings of the current language
    this.Socket = sb.Socket;
    this.named = namer(sb);
    this.sockets = new Map();
    this.calls = new Map();
    this.owners = new Map(); // fd -> the program that holds it, where several programs share a session
    this.network = null; // the session whose private network is watched (see `watch`)
    this.reset();
  }

  reset() {
    this.unwatch();
    this.replaying = null;
    this.ending = false;
    this.sockets.clear();
    this.calls.clear();
    this.owners.clear();
    this.kernel = []; // the kernel's rows no handle holds (TIME_WAIT)
    this.history = []; // closed sockets whose fd number a newer socket has taken
    this.stoppedBy = new Set(); // the programs the Stop button stopped ("" when the lesson has one)
    this.kernelShown = false; // the table has the kernel's column (the session had a private network)
    this.diagram.innerHTML = "";
    const lanes = document.createElement("div");
    lanes.className = "lanes";
    for (const key of ["lanePage", "laneDaemon", this.network ? "laneNetwork" : "lanePeer"]) {
      const cell = document.createElement("div");
      cell.textContent = this.text[key];
      lanes.append(cell);
    }
    this.rows = document.createElement("div");
    this.rows.className = "rows";
    this.rows.setAttribute("role", "list");
    const empty = document.createElement("div");
    empty.className = "empty";
    empty.setAttribute("role", "listitem");
    empty.textContent = this.text.diagramEmpty;
    this.rows.append(empty);
    this.diagram.append(lanes, this.rows);
    this.renderTable();
  }

  /**
   * Shows `bridge`'s private network: the packets on its LAN (polled from the daemon's capture
   * while the session lasts, and after every call) and the kernel's state of each socket.
   */
  async watch(bridge) {
    this.unwatch();
    // The hosts the lab services run on (their connections are not the page's).
    const services = new Set((bridge.hello.network?.hosts ?? []).filter((h) => h.labs).map((h) => h.name));
    this.network = { bridge, services, since: 0, seq: new Map(), hosts: [], last: Promise.resolve(), pending: 0 };
    this.kernelShown = true;
    const lanes = this.diagram.querySelector(".lanes");
    if (lanes) lanes.lastChild.textContent = this.text.laneNetwork;
    // The daemon's clock against the page's, from a few quick asks while the page is idle.
    for (let i = 0; i < 3; i++) {
      const sent = performance.now();
      this.clock(await bridge.packets(0, 0).catch(() => null), sent);
    }
    // While a call waits (accept, recv), the packets another program causes show as they come.
    this.network.timer = setInterval(() => { if (this.network?.pending === 0) this.poll(); }, 250);
    this.poll();
  }

  /**
   * Sets the daemon's clock on the page's from an answer (`now`, seconds) asked for at `sent`:
   * the daemon read its clock about half-way through the round trip, and the quickest round trip
   * seen gives the closest reading.
   */
  clock(answer, sent) {
    const net = this.network;
    if (!net || !answer) return;
    const rtt = performance.now() - sent;
    if (rtt < (net.rtt ?? Infinity)) {
      net.rtt = rtt;
      net.offset = sent + rtt / 2 - answer.now * 1000;
    }
  }

  /** Reads what the capture still holds, then stops watching (before the session closes). */
  /**
   * Called as the session ends, after its programs: a call still open then fails because its
   * program ended (a promise it did not await), not by an error of its own.
   */
  async finish() {
    this.ending = true;
    if (!this.network) return;
    await this.poll();
    this.unwatch();
  }

  unwatch() {
    if (this.network) clearInterval(this.network.timer);
    this.network = null;
  }

  /**
   * Reads the packets and the kernel's table since the last time, and draws them. A poll asked
   * for while one runs runs after it, so what happened before the ask is always read.
   */
  poll() {
    const net = this.network;
    if (!net) return Promise.resolve();
    if (net.bridge.closed) {
      this.unwatch();
      return Promise.resolve();
    }
    const run = async () => {
      try {
        const sent = performance.now();
        const answer = await net.bridge.packets(net.since);
        if (this.network !== net) return;
        this.clock(answer, sent);
        const { packets, next } = answer;
        net.since = next;
        this.packets(packets);
        const rows = await net.bridge.netstat();
        if (this.network === net) this.kernelRows(rows);
      } catch {
        // The session ended while we asked: nothing more to draw.
      }
    };
    net.pending += 1;
    net.last = net.last.then(run).finally(() => { net.pending -= 1; });
    return net.last;
  }

  /**
   * Packets from one read of the capture. A bulk transfer (data segments and the bare ACKs back,
   * on one connection) shows its first segment, then one row that counts the rest.
   */
  packets(packets) {
    let bulk = null;
    const flush = () => {
      if (bulk?.count) this.bulkRow(bulk);
      bulk = null;
    };
    for (const p of packets) {
      const plain = p.proto === "tcp" && p.fate === "delivered" && /^(PSH, )?ACK$/.test(p.flags ?? "");
      const pair = [p.from, ...p.to].sort().join("~");
      if (plain && bulk?.pair === pair) {
        bulk.count += 1;
        bulk.last = p;
        const way = `${p.from} → ${p.to.join(", ")}`;
        if (p.len) bulk.bytes.set(way, (bulk.bytes.get(way) ?? 0) + p.len);
        else bulk.acks += 1;
        continue;
      }
      flush();
      this.packet(p);
      if (plain && p.len) bulk = { pair, count: 0, acks: 0, bytes: new Map(), last: p };
    }
    flush();
  }

  /** One row for the segments of a bulk transfer after its first. */
  bulkRow(bulk) {
    const parts = [...bulk.bytes].map(([way, n]) => `${way} ${n.toLocaleString("en")} B`);
    if (bulk.acks) parts.push(this.text.acksBack(bulk.acks));
    const row = this.step("daemon", "peer", `… ${this.text.moreSegments(bulk.count)}: ${parts.join(", ")}`, "packet bulk", null,
      bulk.last.t * 1000 + this.network.offset);
    row.dataset.packet = "bulk";
  }

  /** One packet from the capture: an arrow on the network lane, its fate shown. */
  packet(p) {
    const net = this.network;
    const t = this.text;
    let label;
    if (p.proto === "tcp") {
      // Sequence and acknowledgement numbers relative to each side's first, as Wireshark shows them.
      const key = `${p.src}>${p.dst}`, back = `${p.dst}>${p.src}`;
      if (p.flags?.includes("SYN") || !net.seq.has(key)) net.seq.set(key, p.seq);
      const rel = (n, base) => (base === undefined ? n : (n - base) >>> 0);
      const parts = [`TCP [${p.flags}]`, `seq=${rel(p.seq, net.seq.get(key))}`];
      if (p.ack !== undefined) parts.push(`ack=${rel(p.ack, net.seq.get(back))}`);
      if (p.len) parts.push(`len=${p.len}`);
      label = parts.join(" ");
    } else if (p.proto === "udp") {
      label = `UDP len=${p.len}`;
    } else {
      label = p.text.replace(/^\S+ → \S+ /, "");
    }
    const where = `${p.from} → ${p.to.length ? p.to.join(", ") : address(p.dst)}`;
    const fate = p.fate === "delivered" ? "" : ` · ${t.fates[p.fate] ?? p.fate}`;
    // Packets go right from the first host of the pair, left back to it.
    const order = (name) => {
      if (!net.hosts.includes(name)) net.hosts.push(name);
      return net.hosts.indexOf(name);
    };
    const rightward = p.to.length === 0 || order(p.from) <= order(p.to[0]);
    const time = p.t * 1000 + net.offset;
    const row = this.step(rightward ? "daemon" : "peer", rightward ? "peer" : "daemon", `${where}: ${label}${fate}`, `packet ${p.fate}`, null, time);
    row.title = p.text;
    row.dataset.packet = p.flags ?? p.proto;
    // Among the calls, where it happened: after the last row drawn before it.
    let after = row.previousElementSibling;
    while (after && Number(after.dataset.time) > time) after = after.previousElementSibling;
    if (after !== row.previousElementSibling) {
      if (after) after.after(row);
      else this.rows.prepend(row);
    }
  }

  /** The kernel's table: each socket's TCP state, and the connections no handle holds. */
  kernelRows(rows) {
    let changed = false;
    for (const r of rows) {
      if (r.fd === undefined) continue;
      const row = this.sockets.get(r.fd);
      if (row && !row.closed && row.kernel !== r.state) {
        row.kernel = r.state;
        changed = true;
      }
    }
    // The lab services' own connections are not the page's: their host's rows are left out.
    const orphans = rows.filter((r) => r.fd === undefined && r.proto === "tcp" && r.state !== "LISTEN"
      && !this.network?.services.has(r.host));
    const text = JSON.stringify(orphans);
    if (text !== JSON.stringify(this.kernel)) {
      this.kernel = orphans;
      changed = true;
    }
    if (changed) this.renderTable();
  }

  /** Says which program holds socket `fd` (from now on; a number reused goes to its new holder). */
  own(fd, program) {
    this.owners.set(fd, program);
    const row = this.sockets.get(fd);
    if (row) {
      row.owner = program;
      this.renderTable();
    }
  }

  /** A lane's name as its column heads it. */
  laneName(lane) {
    const key = { page: "lanePage", daemon: "laneDaemon", peer: this.network ? "laneNetwork" : "lanePeer" }[lane];
    return this.text[key];
  }

  /** Adds one arrow from lane `from` to lane `to`, labelled; returns the row. */
  step(from, to, label, kind, fd, time = performance.now()) {
    this.rows.querySelector(".empty")?.remove();
    const row = document.createElement("div");
    row.dataset.time = String(time);
    row.dataset.text = label;
    row.className = `step ${kind}`;
    row.setAttribute("role", "listitem");
    const left = Math.min(LANE[from], LANE[to]);
    const width = Math.abs(LANE[to] - LANE[from]);
    const arrow = document.createElement("div");
    arrow.className = `arrow ${LANE[to] > LANE[from] ? "right" : "left"}`;
    arrow.setAttribute("aria-hidden", "true");
    arrow.style.left = `${left}%`;
    arrow.style.width = `${width}%`;
    const text = document.createElement("div");
    text.className = "label";
    text.style.left = `${left}%`;
    text.style.width = `${width}%`;
    // The arrow's direction, in words, for a screen reader (a packet's label names its hosts).
    if (!kind.startsWith("packet")) text.append(srOnly(`${this.laneName(from)} → ${this.laneName(to)}: `));
    if (fd !== null && fd !== undefined && fd >= 0) {
      const owner = this.owners.get(fd);
      if (owner) text.append(ownerTag(owner));
      const badge = document.createElement("span");
      badge.className = "fd";
      badge.textContent = `fd ${fd}`;
      text.append(badge);
    }
    text.append(label);
    text.title = label;
    row.append(arrow, text);
    row.dataset.method = kind;
    this.rows.append(row);
    this.diagram.scrollTop = this.diagram.scrollHeight;
    return row;
  }

  /** One trace event from bridge.ontrace. */
  event(e) {
    const S = this.Socket;
    if (e.phase === "call") {
      const row = this.step("page", "daemon", `${callee(e)}(${argsText(this.named(e.method, e.args), S)})`, "call", e.fd, e.time);
      row.dataset.call = e.method;
      if (WAITS.has(e.method)) {
        row.classList.add("pending");
        const wait = document.createElement("div");
        wait.className = "wait";
        row.append(wait);
      }
      this.calls.set(e.id, row);
      return;
    }
    const callRow = this.calls.get(e.id);
    if (callRow) {
      callRow.classList.remove("pending");
      callRow.querySelector(".wait")?.remove();
      this.calls.delete(e.id);
    }
    const ms = e.duration >= 1 ? ` · ${Math.round(e.duration)} ms` : "";
    let returned;
    const byStop = this.endedByStop(e);
    if (byStop || (this.ending && e.error)) {
      // Not an error of the program's: Stop closed the socket its call waited on, or the session
      // ended with its programs while the call was still open.
      const why = `${e.error.name}${e.error.errno !== null && e.error.errno !== undefined ? ` ${e.error.errno}` : ""}`;
      const what = byStop ? this.text.stoppedByStop : this.text.endedWithProgram;
      returned = this.step("daemon", "page", `${callee(e)} ← ${what} (${why})${ms}`, "return stopped", e.fd, e.time);
    } else if (e.error) {
      const what = e.error.errno !== null && e.error.errno !== undefined ? `${e.error.name} (${e.error.errno})` : e.error.name;
      returned = this.step("daemon", "page", `${what}${ms}`, "return error", e.fd, e.time);
    } else {
      const result = e.result === undefined ? "None"
        : e.method === "makefile" ? this.text.fileOn(e.fd) : brief(e.result, S);
      returned = this.step("daemon", "page", `${callee(e)} → ${result}${ms}`, "return", e.fd, e.time);
    }
    returned.dataset.ret = e.method;
    if (this.network) this.poll();
    this.track(e);
  }

  /**
   * Draws the diagram again from its first step, one step every `pause` ms, so a lesson's calls
   * can be followed one by one; pressing it again starts over. Stops at the next run.
   */
  replay(pause) {
    const steps = [...this.rows.querySelectorAll(".step")];
    const run = (this.replaying = {});
    for (const step of steps) step.classList.add("replay-hidden");
    this.diagram.scrollTop = 0;
    const next = (i) => {
      if (this.replaying !== run || i >= steps.length) return;
      steps[i].classList.remove("replay-hidden");
      steps[i].scrollIntoView({ block: "nearest" });
      setTimeout(() => next(i + 1), pause);
    };
    next(0);
  }

  /**
   * Shows the next step of the diagram, and only up to it: the first press hides every step but
   * the first; each press after shows one more. (A running replay stops.)
   */
  stepOnce() {
    const steps = [...this.rows.querySelectorAll(".step")];
    if (!this.stepping || this.stepping.steps !== steps.length || this.replaying !== this.stepping.run) {
      const run = (this.replaying = {});
      for (const step of steps) step.classList.add("replay-hidden");
      this.diagram.scrollTop = 0;
      this.stepping = { run, steps: steps.length, shown: 0 };
    }
    const next = steps[this.stepping.shown];
    if (!next) return;
    next.classList.remove("replay-hidden");
    next.scrollIntoView({ block: "nearest" });
    this.stepping.shown += 1;
  }

  /** Notes that Stop stopped the program `name` ("" for a lesson's only program). */
  stopped(name) {
    this.stoppedBy.add(name);
  }

  /** Notes that the program `name` runs (again): its errors are its own once more. */
  started(name) {
    this.stoppedBy.delete(name);
  }

  /** Whether a call failed because Stop ended its program (which closes its sockets, or the session). */
  endedByStop(e) {
    return Boolean(e.error) && this.stoppedBy.has(this.owners.get(e.fd) ?? "");
  }

  /** Keeps the socket table in step with what the calls did (a makefile object's calls change
   * nothing there: its close leaves the socket open). */
  track(e) {
    const S = this.Socket;
    if (e.object === "file" && !e.error) return;
    const row = (fd) => this.sockets.get(fd);
    const set = (fd, changes) => {
      const r = row(fd);
      if (r) Object.assign(r, changes, { changed: true });
    };
    if (e.error) {
      // A failed call is noted on its socket's row, as the page's code met it.
      const what = e.error.name === "TimeoutError" ? this.text.timedOut
        : this.endedByStop(e) ? `${e.method}: ${this.text.stoppedByStop}`
        : `${e.method}: ${e.error.name}${e.error.errno !== null && e.error.errno !== undefined ? ` (${e.error.errno})` : ""}`;
      // (Not getpeername's ENOTCONN: Python's repr of a socket asks it of every unconnected
      // socket, and the state column says so already.)
      const benign = e.method === "getpeername" && e.error.errno === 107;
      if (e.fd !== null && e.fd !== undefined && !benign) set(e.fd, { note: what });
      this.renderTable();
      return;
    }
    switch (e.method) {
      case "socket":
        if (e.result instanceof S) {
          const s = e.result;
          this.retire(s.fileno());
          this.sockets.set(s.fileno(), {
            fd: s.fileno(), owner: "", family: FAMILY[s.family] ?? s.family, type: TYPE[s.type] ?? s.type,
            state: this.text.stateNew, local: "", remote: "", timeout: this.text.blocking, note: "", changed: true,
          });
        }
        break;
      case "bind":
        set(e.fd, { local: address(e.args[0]), state: this.text.stateBound });
        break;
      case "listen":
        set(e.fd, { state: this.text.stateListening });
        break;
      case "getsockname":
        set(e.fd, { local: address(e.result) });
        break;
      case "getpeername":
        set(e.fd, { remote: address(e.result) });
        break;
      case "connect":
        set(e.fd, { remote: address(e.args[0]), state: this.text.stateConnected });
        break;
      case "connect_ex":
        if (e.result === 0) set(e.fd, { remote: address(e.args[0]), state: this.text.stateConnected });
        else set(e.fd, { note: `connect_ex → ${e.result}` });
        break;
      case "accept": {
        const [conn, peer] = e.result;
        const listener = row(e.fd);
        this.retire(conn.fileno());
        this.sockets.set(conn.fileno(), {
          fd: conn.fileno(), family: listener?.family ?? "", type: listener?.type ?? "", state: this.text.stateConnected,
          local: listener?.local ?? "", remote: address(peer), timeout: this.text.blocking, note: this.text.acceptedFrom(e.fd),
          changed: true,
        });
        break;
      }
      case "recv":
        if (e.result instanceof Uint8Array && e.result.length === 0) set(e.fd, { note: this.text.peerClosed });
        break;
      case "sendto":
        if (!row(e.fd)?.local) set(e.fd, { local: this.text.autoBound });
        break;
      case "shutdown":
        set(e.fd, { state: `shutdown(${["SHUT_RD", "SHUT_WR", "SHUT_RDWR"][e.args[0]] ?? e.args[0]})` });
        break;
      case "settimeout":
      case "setblocking": {
        const t = e.method === "setblocking" ? (e.args[0] ? null : 0) : e.args[0];
        set(e.fd, { timeout: t === null || t === undefined ? this.text.blocking : t === 0 ? this.text.nonBlocking : `${t} s` });
        break;
      }
      case "close":
        set(e.fd, { state: this.text.stateClosed, closed: true, kernel: "" });
        break;
      default:
    }
    this.renderTable();
  }

  /** Keeps a closed socket's row, in the table's history, when a new socket takes its fd number. */
  retire(fd) {
    const old = this.sockets.get(fd);
    if (old?.closed) this.history.push(old);
    // A program that opens sockets in a loop keeps the newest closed ones only.
    if (this.history.length > MAX_HISTORY) this.history.splice(0, this.history.length - MAX_HISTORY);
    this.sockets.delete(fd);
  }

  renderTable() {
    const t = this.text;
    const kernel = this.kernelShown;
    const columns = [t.colFd, t.colFamily, t.colType, t.colState, ...(kernel ? [t.colKernel] : []), t.colLocal, t.colRemote,
      t.colTimeout, t.colNote];
    const head = `<caption>${t.tableCaption}</caption><thead><tr>${columns.map((h) => `<th scope="col">${h}</th>`).join("")}</tr></thead>`;
    const cell = (c) => {
      const td = document.createElement("td");
      td.textContent = c ?? "";
      return td;
    };
    // Closed sockets stay, those whose number was taken again first: the table is the page's history.
    const body = [...this.history, ...[...this.sockets.values()].sort((a, b) => a.fd - b.fd)].map((r) => {
      const values = [r.fd, r.family, r.type, r.state, ...(kernel ? [r.kernel ?? ""] : []), r.local, r.remote, r.timeout, r.note];
      const cells = values.map((c, i) => {
        const td = cell(c);
        if (i === 0 && r.owner) td.append(" ", ownerTag(r.owner));
        if (kernel && i === 4 && c) td.className = "kernel";
        return td.outerHTML;
      });
      const cls = [r.closed ? "closed" : "", r.changed ? "changed" : ""].join(" ").trim();
      r.changed = false;
      return `<tr data-fd="${r.fd}" class="${cls}">${cells.join("")}</tr>`;
    });
    // Connections only the kernel holds now (TIME_WAIT after an active close): no fd, no calls.
    for (const k of kernel ? this.kernel : []) {
      const values = ["—", k.local[0].includes(":") ? "AF_INET6" : "AF_INET", "SOCK_STREAM", "", k.state,
        `${k.host} ${address(k.local)}`, address(k.remote), "", t.kernelOnly];
      const cells = values.map((c, i) => {
        const td = cell(c);
        if (i === 4) td.className = "kernel";
        return td.outerHTML;
      });
      body.push(`<tr class="kernel-only" data-state="${k.state}">${cells.join("")}</tr>`);
    }
    this.table.innerHTML = head + `<tbody>${body.join("") || `<tr><td colspan="${columns.length}">${t.tableEmpty}</td></tr>`}</tbody>`;
  }
}
