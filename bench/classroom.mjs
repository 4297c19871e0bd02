// The classroom load benchmark's students (scripts/bench-classroom.sh runs it, in the namespaces
// where docs/classroom.md's set-up runs): N students at once, each through nginx with TLS
// (wss://class.example.org/) to one of two hosted daemons, running lesson 4 as its page does: a
// session with the student's join link, a second computer (pc2), the echo server on pc1 (bind,
// listen, accept, recv, sendall), the client on pc2 (connect, sendall, recv), everything closed.
// Prints one JSON line: the completion times, failures by message, the daemons' memory and CPU
// (before, at the peak, after), nginx's CPU, this process's (the students') CPU, and what the
// daemons' metrics say once it is over (every session and network gone?).
//
//   node --experimental-websocket bench/classroom.mjs LINKS_FILE N DAEMON_PIDS NGINX_PIDS METRICS_PORTS
//   (each list comma-separated)
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const sb = await import(`${root}web-demo/pkg/node.js`);
const [linksFile, count, daemonList, nginxList, metricsList] = process.argv.slice(2);
const pids = daemonList.split(",");
const nginx = nginxList.split(",");
const students = readFileSync(linksFile, "utf8").trim().split("\n").map((l) => l.split(" ")).slice(0, Number(count));
if (students.length < Number(count)) throw new Error(`only ${students.length} links for ${count} students`);

/** A process's resident memory (bytes) and CPU time (seconds, user and system). */
function usage(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { rss, cpu: (Number(stat[11]) + Number(stat[12])) / 100 };
}
const sample = () => pids.map(usage);
const nginxCpu = () => nginx.reduce((sum, pid) => sum + usage(pid).cpu, 0);

/** Whether the daemons' metrics, read from their metrics ports, show no session and no network. */
async function leftOver() {
  const out = {};
  for (const port of metricsList.split(",")) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name) => Number(text.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ")[1]);
    out[port] = { sessions: value("sockbridge_sessions"), networks: value("sockbridge_networks"), sockets: value("sockbridge_sockets") };
  }
  return out;
}

/** A student's whole lesson may take this long; then it counts as failed (the run always ends). */
const LESSON_BOUND_MS = 180_000;

/** Lesson 4 for one student; resolves to its time in ms, or rejects with what broke. */
const phases = { connect: [], addHost: [], lesson: [] };
function lesson(link) {
  let timer;
  const bound = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${LESSON_BOUND_MS / 1000} s`)), LESSON_BOUND_MS);
  });
  return Promise.race([runLesson(link), bound]).finally(() => clearTimeout(timer));
}

async function runLesson(link) {
  const start = performance.now();
  const bridge = await sb.Bridge.connect(link.replace("https://", "wss://"));
  const connected = performance.now();
  try {
    const pc2 = await bridge.addHost("pc2");
    const added = performance.now();
    phases.connect.push(connected - start);
    phases.addHost.push(added - connected);
    const pc1 = bridge.hello.network.hosts[0].address;
    const server = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM, 0, "pc1");
    await server.bind(["", 50007]);
    await server.listen(5);
    const client = await bridge.socket(sb.AF_INET, sb.SOCK_STREAM, 0, "pc2");
    const serve = (async () => {
      const [conn] = await server.accept();
      const data = await conn.recv(1024);
      await conn.sendall(data);
      await conn.close();
    })();
    await client.connect([pc1, 50007]);
    await client.sendall(new TextEncoder().encode(`hello from ${pc2.name}`));
    const back = new TextDecoder().decode(await client.recv(1024));
    if (back !== "hello from pc2") throw new Error(`the echo came back as ${JSON.stringify(back)}`);
    await serve;
    await client.close();
    await server.close();
    phases.lesson.push(performance.now() - added);
    return performance.now() - start;
  } finally {
    bridge.close();
  }
}

const before = sample();
const nginxBefore = nginxCpu();
const clientBefore = process.cpuUsage();
let peak = before.map((u) => ({ ...u }));
const sampler = setInterval(() => {
  sample().forEach((u, i) => { peak[i].rss = Math.max(peak[i].rss, u.rss); });
}, 100);
const started = performance.now();
const results = await Promise.allSettled(students.map(([, link]) => lesson(link)));
const wall = performance.now() - started;
clearInterval(sampler);
const client = process.cpuUsage(clientBefore);
const nginxSeconds = nginxCpu() - nginxBefore;
// The daemons' memory once the sessions (and their networks) are gone.
await new Promise((resolve) => setTimeout(resolve, 1500));
const after = sample();
const left = await leftOver();

const times = results.filter((r) => r.status === "fulfilled").map((r) => r.value).sort((a, b) => a - b);
const pct = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] : null);
const failures = {};
for (const r of results.filter((r) => r.status === "rejected")) {
  const why = String(r.reason?.message ?? r.reason).slice(0, 200);
  failures[why] = (failures[why] ?? 0) + 1;
}
console.log(JSON.stringify({
  students: students.length,
  completed: times.length,
  wallMs: Math.round(wall),
  p50Ms: pct(50) && Math.round(pct(50)),
  p99Ms: pct(99) && Math.round(pct(99)),
  maxMs: times.length ? Math.round(times.at(-1)) : null,
  failures,
  // The median of each part: the session (TLS, the handshake, its network of pc1 and lab), pc2,
  // and the lesson's own calls.
  phasesP50Ms: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v.sort((a, b) => a - b)[v.length >> 1] ?? 0)])),
  clientCpuSeconds: +((client.user + client.system) / 1e6).toFixed(2),
  nginxCpuSeconds: +nginxSeconds.toFixed(2),
  leftAfter: left,
  daemons: pids.map((pid, i) => ({
    pid: Number(pid),
    rssBeforeMiB: +(before[i].rss / 2 ** 20).toFixed(1),
    rssPeakMiB: +(peak[i].rss / 2 ** 20).toFixed(1),
    rssAfterMiB: +(after[i].rss / 2 ** 20).toFixed(1),
    cpuSeconds: +(after[i].cpu - before[i].cpu).toFixed(2),
  })),
}));
