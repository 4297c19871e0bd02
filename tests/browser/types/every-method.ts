// Every export and method of the browser package, used as page code would use them, so that
// `tsc --noEmit` checks the package's .d.ts against real use (tests/browser/types.test.mjs).
import {
  AF_INET, AF_UNIX, Bridge, ECONNREFUSED, IPPROTO_TCP, MSG_PEEK, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
  SO_REUSEADDR, Socket, SocketFile, TCP_NODELAY, isOSError, isinstance, takePageToken,
} from "../../../web-demo/pkg/sockbridge.js";
import type {
  Address, AddrInfo, BridgeOptions, Bytes, Hello, HostInfo, LinkSettings, NetstatRow, NetworkInfo, PacketInfo, Packets,
  SocketError, TraceEvent,
} from "../../../web-demo/pkg/sockbridge.js";

const token: string | undefined = takePageToken();
const trace = (e: TraceEvent) => {
  const when: [number, number | undefined] = [e.time, e.duration];
  const what: [number, string, string, number | null, unknown[], unknown] = [e.id, e.phase, e.method, e.fd, e.args, e.result];
  // A makefile object's calls say so: its close is not the socket's.
  const onFile: boolean = e.object === "file";
  console.log(when, what, e.error?.code, onFile);
};
const options: BridgeOptions = { codec: "msgpack", ontrace: trace, token: token };
const bridge: Bridge = await Bridge.connect(undefined, options);
bridge.ontrace = trace;
const hello: Hello = bridge.hello;
const about: [string, number, string] = [hello.protocol, hello.protocol_version, hello.daemon];
const limits: number = hello.limits.max_payload_bytes;
const echo: Address | undefined = hello.labs?.echo_tcp;
const features: string[] = hello.features;
const closed: boolean = bridge.closed;

const server: Socket = await bridge.socket(AF_INET, SOCK_STREAM);
await server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
await server.bind(["127.0.0.1", 0]);
await server.listen(5);
const here: Address = await server.getsockname();
const client: Socket = await bridge.socket(AF_INET, SOCK_STREAM);
await client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
const refused: number = await client.connect_ex(["127.0.0.1", 9]);
if (refused === ECONNREFUSED) await client.connect(here);
const [conn, peer]: [Socket, Address] = await server.accept();
const data: Bytes = "hello";
const sent: number = await client.send(data, MSG_PEEK & 0);
await client.sendall(new Uint8Array([1, 2, 3]));
const got: Uint8Array = await conn.recv(1024, MSG_PEEK);
const option: number | Uint8Array = await conn.getsockopt(SOL_SOCKET, SO_REUSEADDR);
const them: Address = await conn.getpeername();
conn.settimeout(0.5);
const timeout: number | null = conn.gettimeout();
conn.setblocking(true);
const blocking: boolean = conn.getblocking();
const fd: number = conn.fileno();
const family: number = conn.family;
const type: number = conn.type;
const proto: number = conn.proto;
await client.shutdown(SHUT_WR);

const file: SocketFile = conn.makefile();
const line: Uint8Array = await file.readline();
const some: Uint8Array = await file.read(10);
const wrote: number = await file.write("250 OK\r\n");
await file.flush();
await file.close();

const udp: Socket = await bridge.socket(AF_INET, SOCK_DGRAM);
const n: number = await udp.sendto(new ArrayBuffer(4), ["127.0.0.1", 9]);
const [datagram, from]: [Uint8Array, Address | null] = await udp.recvfrom(100);
const [readable, writable, exceptional]: [Socket[], Socket[], Socket[]] = await bridge.select([udp], [], [], 0);
const infos: AddrInfo[] = await bridge.getaddrinfo("localhost", 80, AF_INET, SOCK_STREAM);
const ip: string = await bridge.gethostbyname("localhost");
const name: string = await bridge.gethostname();
const unix: Socket = await bridge.socket(AF_UNIX, SOCK_STREAM);
await unix.bind("lesson.sock");

// A private network: hosts, links, packets and the kernel's table.
const network: NetworkInfo = await bridge.network();
const mode: "private" | "shared" = network.mode;
const firstHost: HostInfo | undefined = (hello.network ?? network).hosts?.[0];
const added: HostInfo = await bridge.addHost("pc2");
const onPc2: Socket = await bridge.socket(AF_INET, SOCK_DGRAM, 0, added.name);
const link: LinkSettings = await bridge.setLink("pc2", { loss: 0.1, duplicate: 0.05, reorder: 0.2, delay: 0.05, jitter: 0.01, rate: 64000 });
const capture: Packets = await bridge.packets(0, 100);
const first: PacketInfo | undefined = capture.packets[0];
const wire: [number, number, string, string[], string, string | undefined, number, string] | undefined = first &&
  [first.n, first.t, first.from, first.to, first.fate, first.flags, first.len, first.text];
const tcp: [Address, Address, number | undefined, number | undefined, number | undefined, number] | undefined = first &&
  [first.src, first.dst, first.seq, first.ack, first.window, capture.now];
const pcap: Uint8Array = await bridge.pcap();
const table: NetstatRow[] = await bridge.netstat("pc2");
const states: string[] = table.map((row) => `${row.host} ${row.proto} ${row.state} ${row.fd ?? "-"} ${row.local} ${row.remote ?? ""}`);
await onPc2.close();

try {
  await conn.recv(-1);
} catch (e) {
  if (isOSError(e) && isinstance(e, "ConnectionError")) {
    const error = e as SocketError;
    const detail: [number | null, string | null, string | null, string | undefined] = [error.errno, error.code, error.strerror, error.reason];
    console.log(detail);
  }
}
for (const s of [server, client, conn, udp, unix]) await s.close();
bridge.close();
console.log(about, token, limits, echo, features, closed, peer, sent, got, option, them, timeout, blocking, fd, family, type,
  proto, line, some, wrote, n, datagram, from, readable, writable, exceptional, infos, ip, name, mode, firstHost, link,
  capture.next, capture.missed, wire, tcp, pcap, states, network.lan, network.why, added.address, added.address6, added.labs);
