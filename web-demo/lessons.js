// The lessons, following the sections of the socket tutorial (shared/seed/socket-tutorial.zh.txt).
// Each has its text in Chinese and English, the Python it runs (`python`, or `programs` run at once),
// the same in JavaScript (`code`), the tutorial's own code where it has some (`tutorial`), and `check`:
// what the page tests expect its output, diagram and socket table to show.

// Programs some lessons share between their shared-loopback form and their private-network form
// (\`private\`), where only the computers differ.

/** Lesson 4's echo server: the tutorial's \`while True\` accept loop. */
const ECHO_SERVER_PY = `from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, True)
server.bind(("", 50007))       # "": 每一个网卡 / every interface
server.listen(5)               # 5 个连接可以排队 / 5 may wait
print("echo server on", server.getsockname())

while True:
    conn, addr = server.accept()   # 等客户 / wait for a client
    print("accepted", addr, "as fd", conn.fileno())
    data = conn.recv(1024)
    conn.sendall(data)
    conn.close()
`;

/** Lesson 12's server. */
const HANDSHAKE_SERVER_PY = `from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, True)
server.bind(("", 50007))
server.listen(1)
conn, addr = server.accept()      # 三次握手完成后返回 / returns once the three-way handshake is done
print("connected:", addr)
print("server got", conn.recv(1024))
print("server got", conn.recv(1024), "<- the client's FIN")
conn.close()                      # 服务器的 FIN / the server's FIN
server.close()
`;

/** Lesson 12's client, connecting to the server's computer, \`host\`. */
const handshakeClientPy = (host) => `from socket import *

client = socket(AF_INET, SOCK_STREAM)
client.connect(("${host}", 50007))     # SYN →   ← SYN-ACK   ACK →
client.sendall(b"hello")          # 数据，和对方的 ACK / data, and the peer's ACK
client.close()                    # FIN →   ← ACK（然后对方的 FIN / then the peer's FIN）
print("client closed first: its side waits in TIME_WAIT")
`;

/**
 * Lesson 12 in JavaScript: the server and the client made on \`hosts\` (the server's and the
 * client's; null for the session's one computer), the client dialling \`host\`.
 */
const handshakeJs = (hosts, host) => {
  const on = (i) => (hosts ? `, 0, "${hosts[i]}"` : "");
  return `// 服务器和客户端 / the server and the client
const server = await bridge.socket(AF_INET, SOCK_STREAM${on(0)});
await server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
await server.bind(["", 50007]);
await server.listen(1);
const client = await bridge.socket(AF_INET, SOCK_STREAM${on(1)});
await client.connect(["${host}", 50007]);        // SYN →   ← SYN-ACK   ACK →
const [conn, addr] = await server.accept();
print("connected:", addr);
await client.sendall("hello");                 // data, and the peer's ACK
print("server got", await conn.recv(1024));
await client.close();                          // FIN →   ← ACK
print("server got", await conn.recv(1024), "<- the client's FIN");
await conn.close();                            // the server's FIN; the client's side goes to TIME_WAIT
await server.close();
print("client closed first: its side waits in TIME_WAIT");
`;
};

/** What lesson 12 shows, the server seeing its client at \`peer\` (a pattern). */
const handshakeCheck = (peer) => {
  const server = [`^connected: \\('${peer}', \\d+\\)$`, "^server got b'hello'$", "^server got b'' <- the client's FIN$"];
  const client = ["^client closed first: its side waits in TIME_WAIT$"];
  return {
    python: { output: [], programs: { "server.py": server, "client.py": client } },
    output: [...server, ...client],
    calls: ["connect", "accept", "sendall", "recv", "close"],
    sockets: 3,
  };
};

export const LESSONS = [
  {
    id: "naming",
    number: 1,
    title: { zh: "进程的名字：协议 + IP 地址 + 端口", en: "Naming a process: protocol + IP address + port" },
    summary: {
      zh: "不同电脑上的进程怎样找到对方？getsockname 和 getpeername 给出答案。",
      en: "How do processes on different computers find each other? getsockname and getpeername show it.",
    },
    explain: {
      zh: `<p>同一台电脑上的进程可以用进程号区分，但网络上的进程需要一个全网都能理解的名字：<b>协议 + IP 地址 + 端口</b>。IP 地址找到电脑，端口找到电脑上的那个程序，协议（TCP 或 UDP）说明双方怎么说话。</p>
<p>下面的代码建一个 TCP 服务器，把它绑定到 <code>127.0.0.1</code>（本机），端口写 <code>0</code>，意思是“请系统挑一个空闲端口”。<code>getsockname()</code> 返回自己的名字，<code>getpeername()</code> 返回对方的名字。一条 TCP 连接正好由两个这样的名字确定。</p>`,
      en: `<p>Processes on one computer can be told apart by their process ids, but on a network a process needs a name everyone understands: <b>protocol + IP address + port</b>. The IP address finds the computer, the port finds the program on it, and the protocol (TCP or UDP) says how the two talk.</p>
<p>The code below makes a TCP server and binds it to <code>127.0.0.1</code> (this computer) with port <code>0</code>, which asks the system for any free port. <code>getsockname()</code> gives a socket's own name, <code>getpeername()</code> the other side's. A TCP connection is exactly such a pair of names.</p>`,
    },
    python: `from socket import *

# 一个进程在网络上的名字 = 协议 + IP 地址 + 端口
# A process's name on a network = protocol + IP address + port
server = socket(AF_INET, SOCK_STREAM)     # 协议 / protocol: TCP
server.bind(("127.0.0.1", 0))             # IP 地址 + 端口（0：由系统挑一个）/ IP address + port (0: the system picks one)
server.listen(1)
print("server:", "TCP", server.getsockname())

client = socket(AF_INET, SOCK_STREAM)
client.connect(server.getsockname())
conn, address = server.accept()

print("client: me", client.getsockname(), "-> peer", client.getpeername())
print("server: me", conn.getsockname(), "-> peer", conn.getpeername())
`,
    code: `// 一个进程在网络上的名字 = 协议 + IP 地址 + 端口
// A process's name on a network = protocol + IP address + port
const server = await bridge.socket(AF_INET, SOCK_STREAM);   // protocol: TCP
await server.bind(["127.0.0.1", 0]);        // IP address + port (0: the system picks one)
await server.listen(1);
print("server:", "TCP", await server.getsockname());

const client = await bridge.socket(AF_INET, SOCK_STREAM);
await client.connect(await server.getsockname());
const [conn, address] = await server.accept();

print("client: me", await client.getsockname(), "-> peer", await client.getpeername());
print("server: me", await conn.getsockname(), "-> peer", await conn.getpeername());
`,
    check: {
      output: [
        "^server: TCP \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^client: me \\('127\\.0\\.0\\.1', \\d+\\) -> peer \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^server: me \\('127\\.0\\.0\\.1', \\d+\\) -> peer \\('127\\.0\\.0\\.1', \\d+\\)$",
      ],
      calls: ["bind", "listen", "connect", "accept", "getsockname", "getpeername"],
      sockets: 3,
    },
    // Where the page has a private network: the server on one computer, the client on another.
    private: {
      hosts: ["pc1", "pc2"],
      explain: {
        zh: `<p>同一台电脑上的进程可以用进程号区分，但网络上的进程需要一个全网都能理解的名字：<b>协议 + IP 地址 + 端口</b>。IP 地址找到电脑，端口找到电脑上的那个程序，协议（TCP 或 UDP）说明双方怎么说话。</p>
<p>这里有两台电脑：<code>pc1</code>（10.0.0.1）和 <code>pc2</code>（10.0.0.2），是这个页面自己的网络里真正不同的主机。<code>server.py</code> 在 pc1 上运行：它绑定 <code>("", 50007)</code>，也就是“本机的所有地址，端口 50007”。<code>client.py</code> 在 pc2 上运行，用电脑的名字 <code>"pc1"</code> 和端口连接它。<code>getsockname()</code> 返回自己的名字，<code>getpeername()</code> 返回对方的名字：两边看到的是同一对地址，方向相反。一条 TCP 连接正好由这两个名字确定。</p>
<p>右边的图画出内核真正发出的包：<code>connect</code> 下面是 TCP 的三次握手（SYN，SYN-ACK，ACK），<code>close</code> 下面是 FIN。</p>`,
        en: `<p>Processes on one computer can be told apart by their process ids, but on a network a process needs a name everyone understands: <b>protocol + IP address + port</b>. The IP address finds the computer, the port finds the program on it, and the protocol (TCP or UDP) says how the two talk.</p>
<p>Here there are two computers, <code>pc1</code> (10.0.0.1) and <code>pc2</code> (10.0.0.2): really different hosts of this page's own network. <code>server.py</code> runs on pc1 and binds <code>("", 50007)</code>, "every address of this computer, port 50007". <code>client.py</code> runs on pc2 and connects to it by the computer's name, <code>"pc1"</code>, and the port. <code>getsockname()</code> gives a socket's own name and <code>getpeername()</code> the other side's: the two ends see the same pair of addresses, the other way round. A TCP connection is exactly that pair.</p>
<p>The diagram shows the packets the kernels really sent: TCP's three-way handshake (SYN, SYN-ACK, ACK) under <code>connect</code>, and FIN under <code>close</code>.</p>`,
      },
      programs: [
        {
          name: "server.py",
          host: "pc1",
          python: `from socket import *

# 这个程序在电脑 pc1 上运行 / This program runs on the computer pc1
print("server runs on", gethostname(), gethostbyname(gethostname()))
server = socket(AF_INET, SOCK_STREAM)     # 协议 / protocol: TCP
server.bind(("", 50007))                  # 本机所有地址 + 端口 / every address of this computer + port
server.listen(1)
print("server:", "TCP", server.getsockname())
conn, address = server.accept()
print("server: me", conn.getsockname(), "-> peer", conn.getpeername())
conn.close()
server.close()
`,
        },
        {
          name: "client.py",
          host: "pc2",
          python: `from socket import *

# 这个程序在另一台电脑 pc2 上运行 / This program runs on another computer, pc2
print("client runs on", gethostname(), gethostbyname(gethostname()))
client = socket(AF_INET, SOCK_STREAM)
client.connect(("pc1", 50007))            # 服务器的电脑名 + 端口 / the server's computer + port
print("client: me", client.getsockname(), "-> peer", client.getpeername())
client.close()
`,
        },
      ],
      code: `// Two computers of this page's own network: the server on pc1, the client on pc2.
const server = await bridge.socket(AF_INET, SOCK_STREAM, 0, "pc1");
await server.bind(["", 50007]);          // every address of pc1, port 50007
await server.listen(1);
print("server on pc1:", "TCP", await server.getsockname());

const client = await bridge.socket(AF_INET, SOCK_STREAM, 0, "pc2");
await client.connect(["pc1", 50007]);     // the server's computer + port
const [conn, address] = await server.accept();

print("client on pc2: me", await client.getsockname(), "-> peer", await client.getpeername());
print("server on pc1: me", await conn.getsockname(), "-> peer", await conn.getpeername());
await client.close();
await conn.close();
`,
      check: {
        python: {
          programs: {
            "server.py": [
              "^server runs on pc1 10\\.0\\.0\\.1$",
              "^server: TCP \\('0\\.0\\.0\\.0', \\d+\\)$",
              "^server: me \\('10\\.0\\.0\\.1', \\d+\\) -> peer \\('10\\.0\\.0\\.2', \\d+\\)$",
            ],
            "client.py": [
              "^client runs on pc2 10\\.0\\.0\\.2$",
              "^client: me \\('10\\.0\\.0\\.2', \\d+\\) -> peer \\('10\\.0\\.0\\.1', \\d+\\)$",
            ],
          },
        },
        output: [
          "^server on pc1: TCP \\('0\\.0\\.0\\.0', \\d+\\)$",
          "^client on pc2: me \\('10\\.0\\.0\\.2', \\d+\\) -> peer \\('10\\.0\\.0\\.1', \\d+\\)$",
          "^server on pc1: me \\('10\\.0\\.0\\.1', \\d+\\) -> peer \\('10\\.0\\.0\\.2', \\d+\\)$",
        ],
        calls: ["bind", "listen", "connect", "accept", "getsockname", "getpeername"],
        sockets: 3,
        packets: ["SYN", "SYN, ACK", "ACK", "FIN, ACK"],
      },
    },
  },
  {
    id: "what-is-a-socket",
    number: 2,
    title: { zh: "什么是 socket（套接字）", en: "What a socket is" },
    summary: {
      zh: "socket 是进程间通信的端点；程序拿到的是一个小小的编号。",
      en: "A socket is an endpoint for talking between processes; a program holds it by a small number.",
    },
    explain: {
      zh: `<p><b>套接字（socket）是进程间通信的一种方式</b>，它的特点是能让不同主机上的进程通信。浏览网页、聊天、收发邮件，背后几乎都是 socket。</p>
<p>对程序来说，socket 是一个“端点”：从这里写进去的数据，会从另一端的 socket 读出来。操作系统给每个 socket 一个小整数编号，叫<b>文件描述符</b>（<code>fileno()</code>），程序靠它指明“用哪一个”。在这里，真正的 socket 由本机的 sockbridge 守护进程持有，页面拿到的编号和一个新进程里一样，从 3 开始（0、1、2 留给标准输入、输出和错误）。</p>
<p>关闭之后，编号变成 -1，而这个号码会留给下一个新 socket。看右边的套接字表怎样变化。</p>`,
      en: `<p><b>A socket is a way for processes to communicate</b>, and what makes it special is that the processes may be on different computers. Browsing the web, chatting and email nearly all run on sockets.</p>
<p>To a program a socket is an endpoint: what it writes in comes out of the socket at the other end. The operating system gives each socket a small integer, its <b>file descriptor</b> (<code>fileno()</code>), which the program uses to say which socket it means. Here the real sockets are held by the sockbridge daemon on this computer, and the page's numbers start at 3, as in a fresh process (0, 1 and 2 are standard input, output and error).</p>
<p>After <code>close()</code> the number reads -1, and the freed number goes to the next new socket. Watch the socket table.</p>`,
    },
    python: `from socket import *

a = socket(AF_INET, SOCK_STREAM)
b = socket(AF_INET, SOCK_DGRAM)
print(a)
print(b)
print("fileno:", a.fileno(), b.fileno())

a.close()
print("after close, a.fileno():", a.fileno())

c = socket(AF_INET, SOCK_STREAM)
print("a new socket takes the freed number:", c.fileno())
`,
    code: `const a = await bridge.socket(AF_INET, SOCK_STREAM);
const b = await bridge.socket(AF_INET, SOCK_DGRAM);
print(a);
print(b);
print("fileno:", a.fileno(), b.fileno());

await a.close();
print("after close, a.fileno():", a.fileno());

const c = await bridge.socket(AF_INET, SOCK_STREAM);
print("a new socket takes the freed number:", c.fileno());
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [
          "^<socket\\.socket fd=3, family=2, type=1, proto=0, laddr=\\('0\\.0\\.0\\.0', 0\\)>$",
          "^<socket\\.socket fd=4, family=2, type=2, proto=0, laddr=\\('0\\.0\\.0\\.0', 0\\)>$",
          "^fileno: 3 4$",
          "^after close, a\\.fileno\\(\\): -1$",
          "^a new socket takes the freed number: 3$"
        ]
      },
      output: [
        "^<socket\\.socket fd=3, family=2, type=1, proto=0>$",
        "^<socket\\.socket fd=4, family=2, type=2, proto=0>$",
        "^fileno: 3 4$",
        "^after close, a\\.fileno\\(\\): -1$",
        "^a new socket takes the freed number: 3$",
      ],
      calls: ["socket", "close"],
      sockets: 2,
    },
  },
  {
    id: "creating",
    number: 3,
    title: { zh: "创建 socket：AF_INET / AF_UNIX，SOCK_STREAM / SOCK_DGRAM", en: "Creating sockets: AF_INET / AF_UNIX, SOCK_STREAM / SOCK_DGRAM" },
    summary: {
      zh: "socket(地址族, 类型) 把协议确定下来。",
      en: "socket(family, type) fixes the protocol.",
    },
    explain: {
      zh: `<p>创建 socket 时就要把协议确定下来：<code>socket(地址族, 类型)</code>。</p>
<p><b>地址族（Address Family）</b>：<code>AF_INET</code> 用于 Internet（IPv4，默认），<code>AF_INET6</code> 用于 IPv6，<code>AF_UNIX</code> 用于同一台电脑上的进程通信，地址是一个文件名。</p>
<p><b>类型（Type）</b>：<code>SOCK_STREAM</code> 是流式套接字，用于 TCP（默认）：可靠、有序、像一根管子；<code>SOCK_DGRAM</code> 是数据报套接字，用于 UDP：一个个独立的包，可能丢失，但保留边界。</p>
<p>用完要 <code>close()</code>。</p>
<p><b>教程里有两处不对。</b>其一，它说 AF_INET 和 AF_UNIX “都是ipv4”：只有 <code>AF_INET</code> 是 IPv4；<code>AF_UNIX</code> 根本不用 IP，它的地址是一个文件名。其二，它的代码先 <code>from socket import *</code>，再写 <code>socket(socket.AF_INET, ...)</code>：这时 <code>socket</code> 已经是类，不是模块，所以这一行抛出 <code>AttributeError: type object 'socket' has no attribute 'AF_INET'</code>（真正的 CPython 也是这样）。要么直接写 <code>AF_INET</code>，要么 <code>import socket</code> 之后写 <code>socket.socket(socket.AF_INET, ...)</code>。下面的代码最后一段就运行了教程的那一行；也可以把下方教程的原始代码放进编辑器运行。</p>`,
      en: `<p>Creating a socket fixes its protocol: <code>socket(family, type)</code>.</p>
<p><b>Address family</b>: <code>AF_INET</code> is for the Internet (IPv4, the default), <code>AF_INET6</code> for IPv6, and <code>AF_UNIX</code> for processes on the same computer, where an address is a file name.</p>
<p><b>Type</b>: <code>SOCK_STREAM</code> is a stream socket, TCP (the default): reliable and in order, like a pipe. <code>SOCK_DGRAM</code> is a datagram socket, UDP: separate packets that may be lost but keep their boundaries.</p>
<p>Close sockets with <code>close()</code> when you are done.</p>
<p><b>The tutorial is wrong twice here.</b> It says AF_INET and AF_UNIX are "both IPv4": only <code>AF_INET</code> is IPv4; <code>AF_UNIX</code> uses no IP at all, and its addresses are file names. And its code does <code>from socket import *</code>, then writes <code>socket(socket.AF_INET, ...)</code>: by then <code>socket</code> is the class, not the module, so that line raises <code>AttributeError: type object 'socket' has no attribute 'AF_INET'</code> (real CPython does too). Write <code>AF_INET</code> alone, or <code>import socket</code> and write <code>socket.socket(socket.AF_INET, ...)</code>. The last part of the code below runs the tutorial's line; you can also put the tutorial's own code, below, in the editor and run it.</p>`,
    },
    python: `from socket import *
# 创建一个用于TCP通信的套接字 / a socket for TCP
s1 = socket(AF_INET, SOCK_STREAM)
# 创建一个用于UDP通信的套接字 / a socket for UDP
s2 = socket(AF_INET, SOCK_DGRAM)
# 本机进程通信 / for processes on this computer
s3 = socket(AF_UNIX, SOCK_STREAM)

for s in (s1, s2, s3):
    print(s, "AF_INET?", s.family == AF_INET, "SOCK_STREAM?", s.type == SOCK_STREAM)

# 使用套接字收发数据 ... / use them ...
# 关闭套接字 / close them
s1.close()
s2.close()
s3.close()

# 教程原文写的是 socket(socket.AF_INET, ...)：看看它会怎样
# The tutorial writes socket(socket.AF_INET, ...): see what it does
try:
    s4 = socket(socket.AF_INET, socket.SOCK_STREAM)
except AttributeError as e:
    print("the tutorial's line:", type(e).__name__ + ":", e)
`,
    tutorial: `from socket import *
# 创建一个用于TCP通信的套接字
s1 = socket(socket.AF_INET, socket.SOCK_STREAM)
# 创建一个用于UDP通信的套接字
s2 = socket(socket.AF_INET, socket.SOCK_DGRAM)
# 使用套接字收发数据
# ...
# 关闭套接字
s1.close()
s2.close()
`,
    code: `// 创建一个用于 TCP 通信的套接字 / a socket for TCP
const s1 = await bridge.socket(AF_INET, SOCK_STREAM);
// 创建一个用于 UDP 通信的套接字 / a socket for UDP
const s2 = await bridge.socket(AF_INET, SOCK_DGRAM);
// 本机进程通信 / for processes on this computer
const s3 = await bridge.socket(AF_UNIX, SOCK_STREAM);

for (const s of [s1, s2, s3]) {
  print(s, "AF_INET?", s.family === AF_INET, "SOCK_STREAM?", s.type === SOCK_STREAM);
}

// 使用套接字收发数据 ... / use them ...
// 关闭套接字 / close them
await s1.close();
await s2.close();
await s3.close();
print("closed:", s1.fileno(), s2.fileno(), s3.fileno());
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [
          "^<socket\\.socket fd=3, family=2, type=1, proto=0, laddr=\\('0\\.0\\.0\\.0', 0\\)> AF_INET\\? True SOCK_STREAM\\? True$",
          "^<socket\\.socket fd=4, family=2, type=2, proto=0, laddr=\\('0\\.0\\.0\\.0', 0\\)> AF_INET\\? True SOCK_STREAM\\? False$",
          "^<socket\\.socket fd=5, family=1, type=1, proto=0> AF_INET\\? False SOCK_STREAM\\? True$",
          "^the tutorial's line: AttributeError: type object 'socket' has no attribute 'AF_INET'$"
        ]
      },
      output: [
        "^<socket\\.socket fd=3, family=2, type=1, proto=0> AF_INET\\? True SOCK_STREAM\\? True$",
        "^<socket\\.socket fd=4, family=2, type=2, proto=0> AF_INET\\? True SOCK_STREAM\\? False$",
        "^<socket\\.socket fd=5, family=1, type=1, proto=0> AF_INET\\? False SOCK_STREAM\\? True$",
        "^closed: -1 -1 -1$",
      ],
      calls: ["socket", "close"],
      sockets: 3,
    },
  },
  {
    id: "server",
    number: 4,
    title: { zh: "服务器端的方法：bind、listen、accept", en: "Server methods: bind, listen, accept" },
    summary: {
      zh: "一个 TCP 回显服务器和它的客户端，都在这个页面里。",
      en: "A TCP echo server and its clients, all in this page.",
    },
    explain: {
      zh: `<p><code>bind(address)</code> 把 socket 绑定到地址，在 AF_INET 下地址是元组 <code>(host, port)</code>。教程说 host 写 <code>""</code> 或 <code>"0.0.0.0"</code> 表示接受所有网卡的请求。</p>
<p><code>listen(backlog)</code> 开始监听 TCP 连接。<code>backlog</code> 是已经到达、还没被 <code>accept</code> 的连接最多能排几个，大多数程序设为 5 就够了。教程说超出的连接会被“拒绝”：在 Linux 上并不拒绝，内核只是不理会多出来的连接请求，客户的 <code>connect</code> 一直等，直到超时（用 CPython 试过：<code>listen(1)</code> 时 2 个连上，其余的 <code>TimeoutError</code>）。</p>
<p><code>accept()</code> 等待并接受一个连接，返回 <code>(conn, address)</code>：<code>conn</code> 是一个<b>新的</b> socket，用来和这个客户收发数据；<code>address</code> 是客户的地址。监听的 socket 继续等下一个客户。在图里看 <code>accept</code> 怎样等待，然后返回一个新的 fd。</p>
<p>这一课有<b>两个程序</b>，就像在两个终端里分别运行：<code>server.py</code> 是服务器，<code>client.py</code> 是客户。“运行”先启动服务器，等它在 <code>accept</code> 里等待，再启动客户。客户结束以后，服务器还在 <code>while True</code> 里等下一个客户：可以再运行一次客户，或者按服务器的“停止”（相当于 Ctrl-C），它会在 <code>accept</code> 里收到 <code>KeyboardInterrupt</code>，它的 socket 随之关闭。</p>`,
      en: `<p><code>bind(address)</code> binds the socket to an address; for AF_INET the address is a tuple <code>(host, port)</code>. The tutorial notes that a host of <code>""</code> or <code>"0.0.0.0"</code> means requests from every network interface.</p>
<p><code>listen(backlog)</code> starts listening for TCP connections. <code>backlog</code> is how many connections that have arrived may wait for <code>accept</code>; 5 is enough for most programs. The tutorial says more are "refused": on Linux they are not; the kernel ignores the extra connection requests and the client's <code>connect</code> waits until it times out (tried with CPython: with <code>listen(1)</code>, 2 connect and the rest get <code>TimeoutError</code>).</p>
<p><code>accept()</code> waits for a connection and accepts it, returning <code>(conn, address)</code>: <code>conn</code> is a <b>new</b> socket for talking to this client, and <code>address</code> is the client's address. The listening socket goes on waiting for the next client. In the diagram, watch <code>accept</code> wait, then return a new fd.</p>
<p>This lesson has <b>two programs</b>, as if run in two terminals: <code>server.py</code> is the server and <code>client.py</code> the client. Run starts the server, waits until it waits in <code>accept</code>, then starts the client. When the client is done the server is still in its <code>while True</code> loop, waiting for the next client: run the client again, or press the server's Stop (Ctrl-C, in a terminal), and it gets <code>KeyboardInterrupt</code> in <code>accept</code> and its sockets close.</p>`,
    },
    note: {
      zh: `通过 sockbridge，<code>""</code> 和 <code>"0.0.0.0"</code> 绑定的是 <code>127.0.0.1</code>：网页里的服务器只对本机开放，不会暴露到网络上。`,
      en: `Through sockbridge, <code>""</code> and <code>"0.0.0.0"</code> bind <code>127.0.0.1</code>: a server in a web page is open to this computer only, never to the network.`,
    },
    programs: [
      { name: "server.py", python: ECHO_SERVER_PY, forever: true },
      { name: "client.py", python: `from socket import *

for name in ["alice", "bob"]:
    client = socket(AF_INET, SOCK_STREAM)
    client.connect(("127.0.0.1", 50007))
    client.sendall(b"hello from " + name.encode())
    print(name, "got back", client.recv(1024))
    client.close()
` },
    ],
    code: `const server = await bridge.socket(AF_INET, SOCK_STREAM);
await server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
await server.bind(["", 0]);      // "" = every interface (127.0.0.1 through the bridge); 0 = any free port
await server.listen(5);          // up to 5 connections may wait
const address = await server.getsockname();
print("echo server on", address);

// 服务器：接受两个客户，把收到的原样发回 / the server: accept two clients, echo what they send
const serving = (async () => {
  for (let i = 0; i < 2; i++) {
    const [conn, client] = await server.accept();     // waits for a connection
    print("accepted", client, "as fd", conn.fileno());
    const data = await conn.recv(1024);
    await conn.sendall(data);
    await conn.close();
  }
})();

// 两个客户 / two clients
for (const name of ["alice", "bob"]) {
  const c = await bridge.socket(AF_INET, SOCK_STREAM);
  await c.connect(address);
  await c.sendall("hello from " + name);
  print(name, "got back", await c.recv(1024));
  await c.close();
}
await serving;
await server.close();
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [],
        "programs": {
          "server.py": [
            "^echo server on \\('127\\.0\\.0\\.1', \\d+\\)$",
            "^accepted \\('127\\.0\\.0\\.1', \\d+\\) as fd \\d+$"
          ],
          "client.py": [
            "^alice got back b'hello from alice'$",
            "^bob got back b'hello from bob'$"
          ]
        }
      },
      output: [
        "^echo server on \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^accepted \\('127\\.0\\.0\\.1', \\d+\\) as fd \\d+$",
        "^alice got back b'hello from alice'$",
        "^bob got back b'hello from bob'$",
      ],
      calls: ["bind", "listen", "accept", "connect", "recv", "sendall"],
      sockets: 3,
    },
    // With a private network: the server on pc1, its clients on pc2, and "" is every interface.
    private: {
      hosts: ["pc1", "pc2"],
      note: {
        zh: `这里 <code>""</code> 真的表示 pc1 的每一个网卡：<code>127.0.0.1</code> 和 <code>10.0.0.1</code>。客户在另一台电脑 pc2 上，通过 <code>10.0.0.1</code> 连到它；右边画出每个连接的握手、数据和关闭的包。`,
        en: `Here <code>""</code> really is every interface of pc1: <code>127.0.0.1</code> and <code>10.0.0.1</code>. The client runs on another computer, pc2, and reaches it at <code>10.0.0.1</code>; the diagram shows each connection's handshake, data and close as packets.`,
      },
      programs: [
        { name: "server.py", host: "pc1", python: ECHO_SERVER_PY, forever: true },
        { name: "client.py", host: "pc2", python: `from socket import *

for name in ["alice", "bob"]:
    client = socket(AF_INET, SOCK_STREAM)
    client.connect(("pc1", 50007))     # 服务器的电脑 / the server's computer
    client.sendall(b"hello from " + name.encode())
    print(name, "got back", client.recv(1024))
    client.close()
` },
      ],
      code: `// The server on pc1, its clients on pc2: two computers of this page's network.
const server = await bridge.socket(AF_INET, SOCK_STREAM, 0, "pc1");
await server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
await server.bind(["", 50007]);  // "" = every interface of pc1
await server.listen(5);          // up to 5 connections may wait
print("echo server on", await server.getsockname());

// 服务器：接受两个客户，把收到的原样发回 / the server: accept two clients, echo what they send
const serving = (async () => {
  for (let i = 0; i < 2; i++) {
    const [conn, client] = await server.accept();     // waits for a connection
    print("accepted", client, "as fd", conn.fileno());
    const data = await conn.recv(1024);
    await conn.sendall(data);
    await conn.close();
  }
})();

// 两个客户，在 pc2 上 / two clients, on pc2
for (const name of ["alice", "bob"]) {
  const c = await bridge.socket(AF_INET, SOCK_STREAM, 0, "pc2");
  await c.connect(["pc1", 50007]);
  await c.sendall("hello from " + name);
  print(name, "got back", await c.recv(1024));
  await c.close();
}
await serving;
await server.close();
`,
      check: {
        python: {
          output: [],
          programs: {
            "server.py": ["^echo server on \\('0\\.0\\.0\\.0', \\d+\\)$", "^accepted \\('10\\.0\\.0\\.2', \\d+\\) as fd \\d+$"],
            "client.py": ["^alice got back b'hello from alice'$", "^bob got back b'hello from bob'$"],
          },
        },
        output: [
          "^echo server on \\('0\\.0\\.0\\.0', \\d+\\)$",
          "^accepted \\('10\\.0\\.0\\.2', \\d+\\) as fd \\d+$",
          "^alice got back b'hello from alice'$",
          "^bob got back b'hello from bob'$",
        ],
        calls: ["bind", "listen", "accept", "connect", "recv", "sendall"],
        sockets: 3,
        packets: ["SYN", "SYN, ACK", "ACK", "PSH, ACK", "SYN", "SYN, ACK", "ACK"],
      },
    },
  },
  {
    id: "client",
    number: 5,
    title: { zh: "客户端的方法：connect、connect_ex", en: "Client methods: connect, connect_ex" },
    summary: {
      zh: "连接到一个地址；connect_ex 用错误号代替异常。",
      en: "Connect to an address; connect_ex returns an error number instead of raising.",
    },
    explain: {
      zh: `<p><code>connect(address)</code> 连接到地址处的 socket，地址一般是 <code>(hostname, port)</code>。连接出错时抛出异常，比如没有程序在那个端口监听时是 <code>ConnectionRefusedError</code>。</p>
<p><code>connect_ex(address)</code> 功能和 <code>connect</code> 一样，但不抛异常：成功返回 <code>0</code>，失败返回错误号（errno）。</p>
<p>这里的守护进程自带几个经典的小服务，供课程使用：<code>daytime</code> 告诉你现在的时间，<code>echo</code> 把收到的发回去。它们的地址在 <code>labs</code> 里。</p>`,
      en: `<p><code>connect(address)</code> connects to the socket at the address, usually <code>(hostname, port)</code>. If connecting fails it raises an exception, such as <code>ConnectionRefusedError</code> when no program listens on that port.</p>
<p><code>connect_ex(address)</code> does the same but raises nothing: it returns <code>0</code> on success and the error number (errno) on failure.</p>
<p>The daemon runs a few classic small services for lessons: <code>daytime</code> tells you the time, <code>echo</code> sends back what it gets. Their addresses are in <code>labs</code>.</p>`,
    },
    note: {
      zh: `教程里“服务器拒绝连接”的错误号是 <b>10061</b>，那是 Windows 的编号（WSAECONNREFUSED）。Linux 上同一个错误是 <b>111</b>（ECONNREFUSED），macOS 上是 61。这里的 socket 是 Linux 的，所以 JavaScript 的例子里是 111。而页面里的 Python 是编译成 WebAssembly（Emscripten）的 CPython，它的 <code>errno</code> 模块有自己的编号：<code>errno.ECONNREFUSED</code> 在这里是 <b>14</b>。桥把 Linux 的 111 按名字换成了这个编号，所以 <code>e.errno == errno.ECONNREFUSED</code> 在哪里都成立。比较错误时请用名字（<code>errno.ECONNREFUSED</code>，或者 <code>except ConnectionRefusedError</code>），不要写死数字。`,
      en: `The tutorial's error number for a refused connection, <b>10061</b>, is the Windows one (WSAECONNREFUSED). On Linux the same error is <b>111</b> (ECONNREFUSED); on macOS, 61. These sockets are Linux's, so the JavaScript example shows 111. The Python in this page is CPython compiled to WebAssembly (Emscripten), whose <code>errno</code> module has numbers of its own: <code>errno.ECONNREFUSED</code> is <b>14</b> here. The bridge turns Linux's 111 into that number by its name, so <code>e.errno == errno.ECONNREFUSED</code> holds everywhere. Compare errors by name (<code>errno.ECONNREFUSED</code>, or <code>except ConnectionRefusedError</code>), never by number.`,
    },
    python: `from socket import *
import errno

# connect：连到守护进程的 daytime 服务 / connect to the daemon's daytime service
s = socket(AF_INET, SOCK_STREAM)
s.connect(labs.daytime_tcp)
print("daytime:", s.recv(1024))
s.close()

# 找一个没有人监听的端口 / find a port nobody listens on
probe = socket(AF_INET, SOCK_STREAM)
probe.bind(("127.0.0.1", 0))
closed = probe.getsockname()
probe.close()

# connect_ex：成功返回 0，失败返回错误号 / 0 on success, else the error number
t = socket(AF_INET, SOCK_STREAM)
print("connect_ex to the echo service:", t.connect_ex(labs.echo_tcp))
u = socket(AF_INET, SOCK_STREAM)
err = u.connect_ex(closed)
print("connect_ex to a closed port:", err, errno.errorcode[err])

# connect 则抛出异常 / connect raises instead
try:
    v = socket(AF_INET, SOCK_STREAM)
    v.connect(closed)
except ConnectionRefusedError as e:
    print("connect raised", type(e).__name__ + ":", e)
    print("errno:", e.errno, "is errno.ECONNREFUSED:", e.errno == errno.ECONNREFUSED)
`,
    code: `// connect：连到守护进程的 daytime 服务 / connect to the daemon's daytime service
const s = await bridge.socket(AF_INET, SOCK_STREAM);
await s.connect(labs.daytime_tcp);
print("daytime:", await s.recv(1024));
await s.close();

// 找一个没有人监听的端口 / find a port nobody listens on
const probe = await bridge.socket(AF_INET, SOCK_STREAM);
await probe.bind(["127.0.0.1", 0]);
const closed = await probe.getsockname();
await probe.close();

// connect_ex：成功返回 0，失败返回错误号 / 0 on success, else the error number
const t = await bridge.socket(AF_INET, SOCK_STREAM);
print("connect_ex to the echo service:", await t.connect_ex(labs.echo_tcp));
const u = await bridge.socket(AF_INET, SOCK_STREAM);
const errno = await u.connect_ex(closed);
print("connect_ex to a closed port:", errno, errno === ECONNREFUSED ? "(ECONNREFUSED)" : "");

// connect 则抛出异常 / connect raises instead
try {
  const v = await bridge.socket(AF_INET, SOCK_STREAM);
  await v.connect(closed);
} catch (e) {
  print("connect raised", e);
  print("errno:", e.errno, "code:", e.code, "is an OSError:", isOSError(e));
}
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [
          "^daytime: b'\\w+day, \\w+ \\d+, \\d{4} \\d\\d:\\d\\d:\\d\\d-UTC\\\\r\\\\n'$",
          "^connect_ex to the echo service: 0$",
          "^connect_ex to a closed port: \\d+ ECONNREFUSED$",
          "^connect raised ConnectionRefusedError: \\[Errno \\d+\\] Connection refused$",
          "^errno: \\d+ is errno\\.ECONNREFUSED: True$"
        ]
      },
      output: [
        "^daytime: b'\\w+day, \\w+ \\d+, \\d{4} \\d\\d:\\d\\d:\\d\\d-UTC\\\\r\\\\n'$",
        "^connect_ex to the echo service: 0$",
        "^connect_ex to a closed port: 111 \\(ECONNREFUSED\\)$",
        "^connect raised ConnectionRefusedError: \\[Errno 111\\] Connection refused$",
        "^errno: 111 code: ECONNREFUSED is an OSError: True$",
      ],
      calls: ["connect", "connect_ex", "recv"],
      sockets: 3,
    },
  },
  {
    id: "send-recv",
    number: 6,
    title: { zh: "收发数据：recv、send、sendall", en: "Sending and receiving: recv, send, sendall" },
    summary: {
      zh: "recv 最多返回 bufsize 个字节；send 可能只发一部分；sendall 全部发完。",
      en: "recv returns at most bufsize bytes; send may send part; sendall sends it all.",
    },
    explain: {
      zh: `<p><code>recv(bufsize)</code> 接收 TCP 数据，返回字节串，<b>最多</b> <code>bufsize</code> 个字节，也可能更少。返回空的 <code>b''</code> 表示对方已经关闭了连接。</p>
<p><code>send(data)</code> 发送数据，返回实际发送的字节数，<b>可能小于</b> data 的长度，剩下的要自己再发。什么时候会少？在 Linux 上，阻塞的 <code>send</code> 会一直等到内核收下全部数据（下面 2 MB 的 <code>send</code> 返回 2000000）；设了超时或者非阻塞的 socket，<code>send</code> 只发内核缓冲区放得下的部分。下面让对方不读，缓冲区满了，就能看到真正“只发了一部分”的 <code>send</code>，然后是 <code>BlockingIOError</code>。<code>sendall(data)</code> 把数据全部发完，成功返回 <code>None</code>，失败抛出异常。</p>
<p>这里用到两个实验服务：<code>chargen</code> 不停地发送字符，<code>discard</code> 收下一切然后丢掉。</p>`,
      en: `<p><code>recv(bufsize)</code> receives TCP data and returns bytes: <b>at most</b> <code>bufsize</code> of them, maybe fewer. An empty <code>b''</code> means the other side has closed the connection.</p>
<p><code>send(data)</code> sends data and returns how many bytes it sent, which <b>may be fewer</b> than data holds; sending the rest is up to you. When is it fewer? On Linux a blocking <code>send</code> waits until the kernel has taken everything (the 2 MB <code>send</code> below returns 2000000); with a timeout, or on a non-blocking socket, <code>send</code> sends what fits in the kernel's buffers. Below, a peer that does not read lets the buffers fill, and you see a real short <code>send</code>, then <code>BlockingIOError</code>. <code>sendall(data)</code> sends all of it, returning <code>None</code>, or raises an exception.</p>
<p>Two lab services help: <code>chargen</code> sends characters without end, and <code>discard</code> takes everything and throws it away.</p>`,
    },
    python: `from socket import *

# recv(bufsize) 最多返回 bufsize 个字节 / at most bufsize bytes
s = socket(AF_INET, SOCK_STREAM)
s.connect(labs.chargen_tcp)      # chargen 不停地发字符 / chargen sends characters without end
print(s.recv(10))
print(s.recv(10))
s.close()

# 阻塞的 send 等到内核收下全部数据 / a blocking send waits until the kernel has taken it all
d = socket(AF_INET, SOCK_STREAM)
d.connect(labs.discard_tcp)
big = bytes(2_000_000)           # 2 MB
print("a blocking send() returned", d.send(big))
# sendall 一次发完，成功返回 None / sendall sends it all and returns None
print("sendall() returned", d.sendall(big))
d.close()

# 真正的“只发了一部分”：对方不读，缓冲区满了
# A real short send: the peer does not read, and the buffers fill up
server = socket(AF_INET, SOCK_STREAM)
server.bind(("127.0.0.1", 0))
server.listen(1)
c = socket(AF_INET, SOCK_STREAM)
c.connect(server.getsockname())
conn, _ = server.accept()        # conn 从不读 / conn never reads
c.setblocking(False)             # 不等待 / do not wait
chunk = bytes(100_000)
total = 0
while True:
    try:
        n = c.send(chunk)
    except BlockingIOError:
        break
    total += n
    if n < len(chunk):
        print("send() sent", n, "of", len(chunk), "bytes")
print("the buffers are full after", total, "bytes: BlockingIOError")

# 空的 recv 表示对方关闭 / an empty recv means the peer closed
e = socket(AF_INET, SOCK_STREAM)
e.connect(labs.daytime_tcp)      # daytime 发一行就关闭 / daytime sends one line, then closes
print(e.recv(1024))
print(e.recv(1024), "<- EOF: the peer closed")
`,
    code: `// recv(bufsize) 最多返回 bufsize 个字节 / at most bufsize bytes
const s = await bridge.socket(AF_INET, SOCK_STREAM);
await s.connect(labs.chargen_tcp);       // chargen sends characters without end
print(await s.recv(10));
print(await s.recv(10));
await s.close();

// 阻塞的 send 等到内核收下全部数据 / a blocking send waits until the kernel has taken it all
const d = await bridge.socket(AF_INET, SOCK_STREAM);
await d.connect(labs.discard_tcp);
const big = new Uint8Array(2000000);     // 2 MB
print("a blocking send() returned", await d.send(big));
// sendall 一次发完，成功返回 None / sendall sends it all and returns None
print("sendall() returned", await d.sendall(big));
await d.close();

// 真正的“只发了一部分”：对方不读，缓冲区满了
// A real short send: the peer does not read, and the buffers fill up
const server = await bridge.socket(AF_INET, SOCK_STREAM);
await server.bind(["127.0.0.1", 0]);
await server.listen(1);
const c = await bridge.socket(AF_INET, SOCK_STREAM);
await c.connect(await server.getsockname());
const [conn] = await server.accept();    // conn 从不读 / conn never reads
c.setblocking(false);                    // 不等待 / do not wait
const chunk = new Uint8Array(100000);
let total = 0;
for (;;) {
  let n;
  try {
    n = await c.send(chunk);
  } catch (e) {
    if (e.name !== "BlockingIOError") throw e;
    break;
  }
  total += n;
  if (n < chunk.length) print("send() sent", n, "of", chunk.length, "bytes");
}
print("the buffers are full after", total, "bytes: BlockingIOError");

// 空的 recv 表示对方关闭 / an empty recv means the peer closed
const e = await bridge.socket(AF_INET, SOCK_STREAM);
await e.connect(labs.daytime_tcp);       // daytime sends one line, then closes
print(await e.recv(1024));
print(await e.recv(1024), "<- EOF: the peer closed");
`,
    check: {
      output: [
        "^b' !\"#\\$%&\\\\'\\(\\)'$",
        "^b'\\*\\+,-\\./0123'$",
        "^a blocking send\\(\\) returned 2000000$",
        "^sendall\\(\\) returned None$",
        "^the buffers are full after \\d+ bytes: BlockingIOError$",
        "^b'' <- EOF: the peer closed$",
      ],
      calls: ["connect", "recv", "send", "sendall"],
      sockets: 1,
    },
  },
  {
    id: "udp",
    number: 7,
    title: { zh: "UDP：sendto、recvfrom", en: "UDP: sendto, recvfrom" },
    summary: {
      zh: "不用连接，直接把数据报发到一个地址。",
      en: "No connection: datagrams straight to an address.",
    },
    explain: {
      zh: `<p>UDP 不建立连接：<code>sendto(data, address)</code> 把一个数据报发到 <code>address</code>，返回发送的字节数。<code>recvfrom(bufsize)</code> 接收一个数据报，返回 <code>(data, address)</code>，<code>address</code> 是发送者的地址，回信就发到那里。</p>
<p>UDP 保留数据报的边界：发了两次，就收两次，不会粘在一起。还没有绑定的 socket 第一次 <code>sendto</code> 时，系统会自动给它分配一个端口。</p>`,
      en: `<p>UDP makes no connection: <code>sendto(data, address)</code> sends one datagram to <code>address</code> and returns the bytes sent. <code>recvfrom(bufsize)</code> receives one datagram and returns <code>(data, address)</code>, where <code>address</code> is the sender's, which is where a reply goes.</p>
<p>UDP keeps datagram boundaries: send twice and you receive twice, never run together. A socket that is not bound yet gets a port from the system on its first <code>sendto</code>.</p>`,
    },
    python: `from socket import *

a = socket(AF_INET, SOCK_DGRAM)
b = socket(AF_INET, SOCK_DGRAM)
b.bind(("127.0.0.1", 0))
b_address = b.getsockname()

print("sendto returned", a.sendto(b"question?", b_address))
data, sender = b.recvfrom(1024)          # (data, address)
print("b got", data, "from", sender)
b.sendto(b"answer!", sender)             # 回信发给发送者 / reply to the sender
print("a got", a.recvfrom(1024))

# 数据报的边界会保留 / datagram boundaries are kept
a.sendto(b"one", b_address)
a.sendto(b"two", b_address)
print(b.recv(1024), b.recv(1024))

# 守护进程的 UDP echo 服务 / the daemon's UDP echo service
a.sendto(b"ping", labs.echo_udp)
print("echo service:", a.recvfrom(1024))
`,
    code: `const a = await bridge.socket(AF_INET, SOCK_DGRAM);
const b = await bridge.socket(AF_INET, SOCK_DGRAM);
await b.bind(["127.0.0.1", 0]);
const bAddress = await b.getsockname();

print("sendto returned", await a.sendto("question?", bAddress));
const [data, from] = await b.recvfrom(1024);          // (data, address)
print("b got", data, "from", from);
await b.sendto("answer!", from);                      // reply to the sender
print("a got", await a.recvfrom(1024));

// 数据报的边界会保留 / datagram boundaries are kept
await a.sendto("one", bAddress);
await a.sendto("two", bAddress);
print(await b.recv(1024), await b.recv(1024));

// 守护进程的 UDP echo 服务 / the daemon's UDP echo service
await a.sendto("ping", labs.echo_udp);
print("echo service:", await a.recvfrom(1024));
`,
    check: {
      output: [
        "^sendto returned 9$",
        "^b got b'question\\?' from \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^a got \\(b'answer!', \\('127\\.0\\.0\\.1', \\d+\\)\\)$",
        "^b'one' b'two'$",
        "^echo service: \\(b'ping', \\('127\\.0\\.0\\.1', \\d+\\)\\)$",
      ],
      calls: ["sendto", "recvfrom"],
      sockets: 2,
    },
    // With a private network: datagrams between two computers over a link that loses and reorders.
    private: {
      hosts: ["pc1", "pc2"],
      links: { pc2: { loss: 0.3, reorder: 0.3, delay: 0.01 } },
      note: {
        zh: `这个页面的网络里，pc2 发出的链路被设成<b>丢掉 30% 的包</b>，并把 30% 的包<b>压后</b>（后面的包先到）。UDP 不会重发，也不会排序：接收方看到的就是网络给它的。右边的图标出每个包的下场。TCP 在同样的链路上也会丢包，但它会重发、排序，程序看不出来。`,
        en: `In this page's network the link out of pc2 is set to <b>lose 30% of the packets</b> and to <b>hold 30% back</b> (later ones overtake them). UDP neither resends nor reorders: the receiver sees what the network gave it. The diagram marks what became of each packet. TCP over the same link loses packets too, but it resends and reorders them, and the program never knows.`,
      },
      programs: [
        { name: "receiver.py", host: "pc1", python: `from socket import *

# pc1 收数据报 / pc1 receives datagrams
r = socket(AF_INET, SOCK_DGRAM)
r.bind(("", 9999))
r.settimeout(1.0)          # 一秒没有新的就结束 / stop after a quiet second
got = []
try:
    while True:
        data, sender = r.recvfrom(1024)
        got.append(int(data))
except TimeoutError:
    pass
print("got", len(got), "of 20:", got)
print("lost:", sorted(set(range(20)) - set(got)))
print("overtaken:", [n for i, n in enumerate(got) if i and n < got[i - 1]])
` },
        { name: "sender.py", host: "pc2", python: `from socket import *

# pc2 把 20 个编号的数据报发给 pc1 / pc2 sends 20 numbered datagrams to pc1
s = socket(AF_INET, SOCK_DGRAM)
for n in range(20):
    s.sendto(str(n).encode(), ("pc1", 9999))
print("sent 0 to 19 from", s.getsockname())
` },
      ],
      code: `// pc2 sends 20 numbered datagrams to pc1, over a link that loses and reorders (see the note).
const r = await bridge.socket(AF_INET, SOCK_DGRAM, 0, "pc1");
await r.bind(["", 9999]);
const s = await bridge.socket(AF_INET, SOCK_DGRAM, 0, "pc2");
for (let n = 0; n < 20; n++) await s.sendto(String(n), ["pc1", 9999]);
print("sent 0 to 19 from", await s.getsockname());

r.settimeout(1.0);          // stop after a quiet second
const got = [];
try {
  for (;;) got.push(Number(new TextDecoder().decode((await r.recvfrom(1024))[0])));
} catch (e) {
  if (e.name !== "TimeoutError") throw e;
}
print("got", got.length, "of 20:", got);
print("lost:", [...Array(20).keys()].filter((n) => !got.includes(n)));
print("overtaken:", got.filter((n, i) => i > 0 && n < got[i - 1]));
`,
      check: {
        python: {
          output: [],
          programs: {
            "receiver.py": ["^got \\d+ of 20: \\[", "^lost: \\[", "^overtaken: \\["],
            "sender.py": ["^sent 0 to 19 from \\('0\\.0\\.0\\.0', \\d+\\)$"],
          },
        },
        output: ["^sent 0 to 19 from \\('0\\.0\\.0\\.0', \\d+\\)$", "^got \\d+ of 20: \\[", "^lost: \\[", "^overtaken: \\["],
        calls: ["sendto", "recvfrom"],
        sockets: 2,
        packets: ["udp"],
      },
    },
  },
  {
    id: "close-names",
    number: 8,
    title: { zh: "close、getsockname、getpeername", en: "close, getsockname, getpeername" },
    summary: {
      zh: "关闭之后，对方读到 EOF；再用这个 socket 会出错。",
      en: "After close the peer reads EOF; using the socket again is an error.",
    },
    explain: {
      zh: `<p><code>getsockname()</code> 返回 socket 自己的地址，<code>getpeername()</code> 返回连接另一端的地址，通常都是元组 <code>(ip, port)</code>。</p>
<p><code>close()</code> 关闭 socket。对方接着 <code>recv</code> 会得到 <code>b''</code>（EOF）。关闭之后再使用这个 socket，会得到 <code>OSError: [Errno 9] Bad file descriptor</code>（EBADF；页面里的 Python 给它的编号是 8，原因见第 5 课）。</p>`,
      en: `<p><code>getsockname()</code> returns the socket's own address and <code>getpeername()</code> the address at the other end of the connection, usually tuples <code>(ip, port)</code>.</p>
<p><code>close()</code> closes the socket. The other side's next <code>recv</code> returns <code>b''</code> (EOF). Using the socket after closing it raises <code>OSError: [Errno 9] Bad file descriptor</code> (EBADF; the page's Python numbers it 8, for the reason in lesson 5).</p>`,
    },
    python: `from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.bind(("127.0.0.1", 0))
server.listen(1)
client = socket(AF_INET, SOCK_STREAM)
client.connect(server.getsockname())
conn, peer = server.accept()

print("getsockname():", client.getsockname())   # 自己的地址 / my own address
print("getpeername():", client.getpeername())   # 对方的地址 / the other side's

client.close()
print("the server reads", conn.recv(1024), "after the client closed")

try:
    client.getsockname()
except OSError as e:
    print("using a closed socket:", type(e).__name__ + ":", e)
`,
    code: `const server = await bridge.socket(AF_INET, SOCK_STREAM);
await server.bind(["127.0.0.1", 0]);
await server.listen(1);
const client = await bridge.socket(AF_INET, SOCK_STREAM);
await client.connect(await server.getsockname());
const [conn, peer] = await server.accept();

print("getsockname():", await client.getsockname());   // my own address
print("getpeername():", await client.getpeername());   // the other side's

await client.close();
print("the server reads", await conn.recv(1024), "after the client closed");

try {
  await client.getsockname();
} catch (e) {
  print("using a closed socket:", e);
}
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [
          "^getsockname\\(\\): \\('127\\.0\\.0\\.1', \\d+\\)$",
          "^getpeername\\(\\): \\('127\\.0\\.0\\.1', \\d+\\)$",
          "^the server reads b'' after the client closed$",
          "^using a closed socket: OSError: \\[Errno \\d+\\] Bad file descriptor$"
        ]
      },
      output: [
        "^getsockname\\(\\): \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^getpeername\\(\\): \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^the server reads b'' after the client closed$",
        "^using a closed socket: OSError: \\[Errno 9\\] Bad file descriptor$",
      ],
      calls: ["close", "getsockname", "getpeername", "recv"],
      sockets: 3,
    },
  },
  {
    id: "reuseaddr",
    number: 9,
    title: { zh: "setsockopt(SO_REUSEADDR) 与 TIME_WAIT", en: "setsockopt(SO_REUSEADDR) and TIME_WAIT" },
    summary: {
      zh: "为什么服务器重启时会“地址已被使用”，以及怎么立刻重用端口。",
      en: "Why a restarted server gets 'address already in use', and how to reuse the port at once.",
    },
    explain: {
      zh: `<p>TCP 连接关闭时，<b>先关闭的一方</b>要在 <b>TIME_WAIT</b> 状态里等一会儿（Linux 上约 60 秒），确保网络里迟到的包不会被误认为新连接的数据。服务器常常是先关闭的一方，所以刚停掉的服务器想立刻在同一个端口重新启动，<code>bind</code> 会失败：<code>OSError: [Errno 98] Address already in use</code>。</p>
<p><code>setsockopt(SOL_SOCKET, SO_REUSEADDR, True)</code> 允许 socket 绑定到还有连接处于 TIME_WAIT 的端口。教程的写法就是在 <code>bind</code> 之前设置它。在 Linux 上，旧的和新的 socket 都要设置这个选项。<code>getsockopt</code> 读出选项的值。</p>`,
      en: `<p>When a TCP connection closes, <b>the side that closed first</b> waits a while in <b>TIME_WAIT</b> (about 60 seconds on Linux), so that late packets still in the network are never taken for a new connection's data. Servers often close first, so a server restarted at once on the same port fails to <code>bind</code>: <code>OSError: [Errno 98] Address already in use</code>.</p>
<p><code>setsockopt(SOL_SOCKET, SO_REUSEADDR, True)</code> lets a socket bind a port that still has connections in TIME_WAIT. The tutorial sets it before <code>bind</code>. On Linux both the old and the new socket need the option. <code>getsockopt</code> reads an option's value.</p>`,
    },
    python: `from socket import *

# 第一个服务器：它先关闭连接，它那一端进入 TIME_WAIT
# The first server closes its connection first, so its side waits in TIME_WAIT
tcp_socket = socket(AF_INET, SOCK_STREAM)
# 可以立刻重用处理TIME_WAIT状态的套接字
tcp_socket.setsockopt(SOL_SOCKET, SO_REUSEADDR, True)
tcp_socket.bind(("127.0.0.1", 0))
tcp_socket.listen(5)
address = tcp_socket.getsockname()
client = socket(AF_INET, SOCK_STREAM)
client.connect(address)
conn, _ = tcp_socket.accept()
conn.close()                 # 服务器先关闭：TIME_WAIT / the server closes first: TIME_WAIT
client.recv(10)              # 客户读到 EOF…… / the client sees EOF...
client.close()               # ……也关闭 / ...and closes too
tcp_socket.close()
print("restarting the server on", address)

# 不设 SO_REUSEADDR：端口还被占着 / without SO_REUSEADDR: the port is still taken
plain = socket(AF_INET, SOCK_STREAM)
try:
    plain.bind(address)
except OSError as e:
    print("without SO_REUSEADDR:", type(e).__name__ + ":", e)

# 设了 SO_REUSEADDR：立刻可以重用 / with SO_REUSEADDR: reused at once
again = socket(AF_INET, SOCK_STREAM)
again.setsockopt(SOL_SOCKET, SO_REUSEADDR, True)
again.bind(address)
again.listen(5)
print("with SO_REUSEADDR: listening on", again.getsockname())
print("getsockopt(SOL_SOCKET, SO_REUSEADDR) =", again.getsockopt(SOL_SOCKET, SO_REUSEADDR))
`,
    code: `// 第一个服务器：它先关闭连接，它那一端进入 TIME_WAIT
// The first server closes its connection first, so its side waits in TIME_WAIT
const first = await bridge.socket(AF_INET, SOCK_STREAM);
await first.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
await first.bind(["127.0.0.1", 0]);
await first.listen(5);
const address = await first.getsockname();
const client = await bridge.socket(AF_INET, SOCK_STREAM);
await client.connect(address);
const [conn] = await first.accept();
await conn.close();              // the server closes first: TIME_WAIT
await client.recv(10);           // the client sees EOF...
await client.close();            // ...and closes too
await first.close();
print("restarting the server on", address);

// 不设 SO_REUSEADDR：端口还被占着 / without SO_REUSEADDR: the port is still taken
const plain = await bridge.socket(AF_INET, SOCK_STREAM);
try {
  await plain.bind(address);
} catch (e) {
  print("without SO_REUSEADDR:", e);
}

// 设了 SO_REUSEADDR：立刻可以重用 / with SO_REUSEADDR: reused at once
const again = await bridge.socket(AF_INET, SOCK_STREAM);
await again.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
await again.bind(address);
await again.listen(5);
print("with SO_REUSEADDR: listening on", await again.getsockname());
print("getsockopt(SOL_SOCKET, SO_REUSEADDR) =", await again.getsockopt(SOL_SOCKET, SO_REUSEADDR));
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [
          "^restarting the server on \\('127\\.0\\.0\\.1', \\d+\\)$",
          "^without SO_REUSEADDR: OSError: \\[Errno \\d+\\] Address already in use$",
          "^with SO_REUSEADDR: listening on \\('127\\.0\\.0\\.1', \\d+\\)$",
          "^getsockopt\\(SOL_SOCKET, SO_REUSEADDR\\) = 1$"
        ]
      },
      output: [
        "^restarting the server on \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^without SO_REUSEADDR: OSError: \\[Errno 98\\] Address already in use$",
        "^with SO_REUSEADDR: listening on \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^getsockopt\\(SOL_SOCKET, SO_REUSEADDR\\) = 1$",
      ],
      calls: ["setsockopt", "bind", "getsockopt"],
      sockets: 3,
    },
  },
  {
    id: "timeouts",
    number: 10,
    title: { zh: "settimeout、gettimeout、setblocking", en: "settimeout, gettimeout, setblocking" },
    summary: {
      zh: "阻塞、超时、非阻塞三种模式，以及超时为什么改变 send 和 recv 的用法。",
      en: "Blocking, timeout and non-blocking modes, and why a timeout changes how send and recv behave.",
    },
    explain: {
      zh: `<p>socket 有三种模式。<b>阻塞</b>（默认，<code>settimeout(None)</code>）：<code>recv</code> 没有数据时一直等。<b>超时</b>（<code>settimeout(t)</code>，t 是秒数）：最多等 t 秒，然后抛出 <code>TimeoutError: timed out</code>。<b>非阻塞</b>（<code>setblocking(False)</code>，等于 <code>settimeout(0.0)</code>）：不等，马上抛出 <code>BlockingIOError</code>。<code>gettimeout()</code> 返回当前的超时秒数，没有超时时返回 <code>None</code>。</p>
<p>教程说：socket 一旦设置了 timeout，就进入了非阻塞模式。<b>这只对了一半。</b>CPython 确实在底层把文件描述符设成非阻塞，再用 <code>poll</code> 等待，但对你的程序来说它仍是阻塞的：<code>getblocking()</code> 返回 <code>True</code>（看下面的输出），每个调用最多等 t 秒，超时就抛出 <code>TimeoutError</code>，而不是像非阻塞那样马上抛出 <code>BlockingIOError</code>。教程说的“只发送或接收一部分”也不是超时才有的：<code>recv</code> 在任何模式下都可能少于 bufsize；<code>send</code> 在有超时或非阻塞时可能只发一部分（第 6 课）。所以总要检查返回值，或者用 <code>sendall</code>。超时的时候，没有数据会丢失：之后到达的数据还在。</p>`,
      en: `<p>A socket has three modes. <b>Blocking</b> (the default, <code>settimeout(None)</code>): <code>recv</code> waits for data as long as it takes. <b>Timeout</b> (<code>settimeout(t)</code>, t in seconds): it waits at most t seconds, then raises <code>TimeoutError: timed out</code>. <b>Non-blocking</b> (<code>setblocking(False)</code>, the same as <code>settimeout(0.0)</code>): it does not wait, and raises <code>BlockingIOError</code> at once. <code>gettimeout()</code> returns the timeout in seconds, or <code>None</code> when there is none.</p>
<p>The tutorial says that once a socket has a timeout, it is in non-blocking mode. <b>That is half true.</b> Underneath, CPython does make the file descriptor non-blocking and waits with <code>poll</code>, but to your program the socket is still blocking: <code>getblocking()</code> is <code>True</code> (see the output below), and each call waits up to t seconds, then raises <code>TimeoutError</code>, not <code>BlockingIOError</code> at once as non-blocking mode does. And the tutorial's "may send or receive only part" is not special to timeouts: <code>recv</code> may return fewer than bufsize bytes in every mode; <code>send</code> may be short with a timeout or in non-blocking mode (lesson 6). So always check what they return, or use <code>sendall</code>. A timeout loses no data: what arrives later is still there.</p>`,
    },
    python: `from socket import *

s = socket(AF_INET, SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("gettimeout():", s.gettimeout())      # None：阻塞，一直等 / blocking, waits as long as it takes

s.settimeout(0.5)                           # 最多等半秒 / wait at most half a second
print("gettimeout():", s.gettimeout(), "getblocking():", s.getblocking())
try:
    s.recv(1024)
except TimeoutError as e:
    print("recv with a timeout:", type(e).__name__ + ":", e)

s.setblocking(False)                        # 等于 settimeout(0.0) / the same as settimeout(0.0)
print("gettimeout():", s.gettimeout(), "getblocking():", s.getblocking())
try:
    s.recv(1024)
except BlockingIOError as e:
    print("non-blocking recv:", type(e).__name__ + ":", e)

# 超时不会让数据丢失 / a timeout loses nothing
s.sendto(b"still here", s.getsockname())
print("later:", s.recv(1024))

s.settimeout(None)                          # 恢复阻塞，如教程所说 / back to blocking, as the tutorial advises
print("gettimeout():", s.gettimeout(), "getblocking():", s.getblocking())
`,
    code: `const s = await bridge.socket(AF_INET, SOCK_DGRAM);
await s.bind(["127.0.0.1", 0]);
print("gettimeout():", s.gettimeout());        // None: blocking, waits as long as it takes

s.settimeout(0.5);                             // wait at most half a second
print("gettimeout():", s.gettimeout(), "getblocking():", s.getblocking());
try {
  await s.recv(1024);
} catch (e) {
  print("recv with a timeout:", e);
}

s.setblocking(false);                          // the same as settimeout(0.0)
print("gettimeout():", s.gettimeout(), "getblocking():", s.getblocking());
try {
  await s.recv(1024);
} catch (e) {
  print("non-blocking recv:", e);
}

// 超时不会让数据丢失 / a timeout loses nothing
await s.sendto("still here", await s.getsockname());
print("later:", await s.recv(1024));

s.settimeout(null);                            // back to blocking, as the tutorial advises
print("gettimeout():", s.gettimeout(), "getblocking():", s.getblocking());
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [
          "^gettimeout\\(\\): None$",
          "^gettimeout\\(\\): 0\\.5 getblocking\\(\\): True$",
          "^recv with a timeout: TimeoutError: timed out$",
          "^gettimeout\\(\\): 0\\.0 getblocking\\(\\): False$",
          "^non-blocking recv: BlockingIOError: \\[Errno \\d+\\] Resource temporarily unavailable$",
          "^later: b'still here'$",
          "^gettimeout\\(\\): None getblocking\\(\\): True$"
        ]
      },
      output: [
        "^gettimeout\\(\\): None$",
        "^gettimeout\\(\\): 0\\.5 getblocking\\(\\): True$",
        "^recv with a timeout: TimeoutError: timed out$",
        "^gettimeout\\(\\): 0 getblocking\\(\\): False$",
        "^non-blocking recv: BlockingIOError: \\[Errno 11\\] Resource temporarily unavailable$",
        "^later: b'still here'$",
        "^gettimeout\\(\\): None getblocking\\(\\): True$",
      ],
      calls: ["settimeout", "setblocking", "recv"],
      sockets: 1,
    },
  },
  {
    id: "fileno-makefile",
    number: 11,
    title: { zh: "fileno 与 makefile", en: "fileno and makefile" },
    summary: {
      zh: "socket 的编号，以及把 socket 当文件按行读写。",
      en: "A socket's number, and reading and writing a socket like a file, line by line.",
    },
    explain: {
      zh: `<p><code>fileno()</code> 返回 socket 的文件描述符（一个小整数），关闭后返回 -1。</p>
<p><code>makefile(mode)</code> 创建一个与 socket 关联的文件对象。不写 mode 时是 <code>'r'</code>：只读的<b>文本</b>模式，读出 <code>str</code>，并把 <code>\r\n</code> 换成 <code>\n</code>；要收发字节，写 <code>'rb'</code>、<code>'wb'</code> 或 <code>'rwb'</code>。文件对象：可以像读文件一样 <code>readline()</code> 按行读，<code>write()</code> 写，<code>flush()</code> 把缓冲的数据真正发出去。很多文本协议（HTTP、SMTP）都是按行的，用它很方便。注意：文件会预先读入一块数据，之后不要再直接用 <code>recv</code> 混着读。</p>`,
      en: `<p><code>fileno()</code> returns the socket's file descriptor, a small integer; after close, -1.</p>
<p><code>makefile(mode)</code> makes a file object tied to the socket. With no mode it is <code>'r'</code>: read-only <b>text</b> mode, giving <code>str</code> lines with <code>\r\n</code> turned into <code>\n</code>; for bytes, give <code>'rb'</code>, <code>'wb'</code> or <code>'rwb'</code>. The file: <code>readline()</code> reads a line as from a file, <code>write()</code> writes, and <code>flush()</code> sends what is buffered. Many text protocols (HTTP, SMTP) work in lines, and this makes them easy. Mind that the file reads ahead: do not mix it with <code>recv</code> on the same socket.</p>`,
    },
    python: `from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.bind(("127.0.0.1", 0))
server.listen(1)
print("server.fileno():", server.fileno())
client = socket(AF_INET, SOCK_STREAM)
client.connect(server.getsockname())
conn, _ = server.accept()
print("conn.fileno():", conn.fileno())

# makefile：像文件一样按行读写 / read and write like a file, line by line
f = conn.makefile("rwb")                 # 二进制，可读可写 / binary, read and write
client.sendall(b"HELO sockbridge\\r\\nMAIL FROM:<teacher@example.org>\\r\\n")
print(f.readline())
print(f.readline())
f.write(b"250 OK\\r\\n")
f.flush()                                # 真正发出去 / really send it

# 不写 mode 就是文本模式 'r'：读出 str，\\r\\n 变成 \\n
# With no mode it is text mode 'r': lines are str, and \\r\\n becomes \\n
lines = client.makefile()
print("the client got", repr(lines.readline()))
lines.close()
f.close()
conn.close()
print("after close, conn.fileno():", conn.fileno())
`,
    code: `const server = await bridge.socket(AF_INET, SOCK_STREAM);
await server.bind(["127.0.0.1", 0]);
await server.listen(1);
print("server.fileno():", server.fileno());
const client = await bridge.socket(AF_INET, SOCK_STREAM);
await client.connect(await server.getsockname());
const [conn] = await server.accept();
print("conn.fileno():", conn.fileno());

// makefile：像文件一样按行读写 / read and write like a file, line by line
const f = conn.makefile();
await client.sendall("HELO sockbridge\\r\\nMAIL FROM:<teacher@example.org>\\r\\n");
print(await f.readline());
print(await f.readline());
await f.write("250 OK\\r\\n");
await f.flush();
print("the client got", await client.recv(1024));
await f.close();
await conn.close();
print("after close, conn.fileno():", conn.fileno());
`,
    check: {
      // What the Python program shows, where it differs from the JavaScript.
      python: {
        "output": [
          "^server\\.fileno\\(\\): 3$",
          "^conn\\.fileno\\(\\): 5$",
          "^b'HELO sockbridge\\\\r\\\\n'$",
          "^b'MAIL FROM:<teacher@example\\.org>\\\\r\\\\n'$",
          "^the client got '250 OK\\\\n'$",
          "^after close, conn\\.fileno\\(\\): -1$"
        ],
        "calls": [
          "recv",
          "sendall"
        ]
      },
      output: [
        "^server\\.fileno\\(\\): 3$",
        "^conn\\.fileno\\(\\): 5$",
        "^b'HELO sockbridge\\\\r\\\\n'$",
        "^b'MAIL FROM:<teacher@example\\.org>\\\\r\\\\n'$",
        "^the client got b'250 OK\\\\r\\\\n'$",
        "^after close, conn\\.fileno\\(\\): -1$",
      ],
      calls: ["makefile", "readline", "write", "flush"],
      sockets: 3,
    },
  },
  {
    id: "handshake",
    number: 12,
    title: { zh: "TCP 在网线上：三次握手和四次挥手", en: "TCP on the wire: the handshake and the teardown" },
    summary: {
      zh: "connect、accept 和 close 背后，内核之间交换的包。",
      en: "The packets the kernels exchange under connect, accept and close.",
    },
    explain: {
      zh: `<p>TCP 连接不是凭空出现的。<code>connect()</code> 让客户端的内核发出 <b>SYN</b>（“我想连接，我的序号从这里开始”）；服务器的内核回 <b>SYN-ACK</b>（“好的，这是我的序号，我收到了你的”）；客户端再回 <b>ACK</b>。这就是<b>三次握手</b>：它在内核里完成，<code>accept()</code> 只是把已经建立好的连接交给程序。</p>
<p>之后每个数据段都带着序号（<code>seq</code>，第一个字节的编号）和确认号（<code>ack</code>，期望收到的下一个字节）。图里的序号是相对的，从 0 开始，和 Wireshark 的显示一样。</p>
<p>关闭时双方各发一个 <b>FIN</b>，对方各回一个 <b>ACK</b>，所以叫<b>四次挥手</b>（两个包有时合成一个）。先关闭的一方在最后要等一段时间，状态叫 <b>TIME_WAIT</b>（Linux 上 60 秒），以免迟到的旧包混进同一对地址的新连接：第 9 课的 <code>SO_REUSEADDR</code> 就是为它准备的。对方关闭以后，<code>recv()</code> 返回 <code>b''</code>。</p>`,
      en: `<p>A TCP connection does not appear out of nowhere. <code>connect()</code> makes the client's kernel send a <b>SYN</b> ("I want to connect; my sequence numbers start here"); the server's kernel answers <b>SYN-ACK</b> ("fine, here are mine, and I have yours"); the client answers <b>ACK</b>. That is the <b>three-way handshake</b>. The kernel does it: <code>accept()</code> only hands the program a connection that is already made.</p>
<p>Every data segment then carries a sequence number (<code>seq</code>, the number of its first byte) and an acknowledgement number (<code>ack</code>, the next byte expected). The diagram shows them relative, from 0, as Wireshark does.</p>
<p>To close, each side sends a <b>FIN</b> and the other answers with an <b>ACK</b>: the <b>teardown</b> (two of the four packets sometimes travel as one). The side that closed first then waits, in <b>TIME_WAIT</b> (60 seconds on Linux), so that a late packet of the old connection cannot be taken for part of a new one between the same two addresses: lesson 9's <code>SO_REUSEADDR</code> exists for it. After the peer's FIN, <code>recv()</code> returns <code>b''</code>.</p>`,
    },
    note: {
      zh: `这些包只有在页面有自己的私有网络时才画得出来（守护进程用 <code>--network private</code> 启动，<code>./scripts/demo.sh</code> 以 root 运行时就是这样）。这里页面和这台电脑共用回环接口，图里画的是桥根据调用推测的 SYN 和 FIN，不是抓到的包。`,
      en: `The packets themselves are drawn only where the page has a private network of its own (the daemon started with <code>--network private</code>, as <code>./scripts/demo.sh</code> does when run as root). Here the page shares this computer's loopback, and the diagram shows the SYN and FIN the bridge infers from the calls, not captured packets.`,
    },
    programs: [
      { name: "server.py", python: HANDSHAKE_SERVER_PY, },
      { name: "client.py", python: handshakeClientPy("127.0.0.1") },
    ],
    code: handshakeJs(null, "127.0.0.1"),
    check: handshakeCheck("127\\.0\\.0\\.1"),
    // With a private network: two computers, and the packets themselves.
    private: {
      hosts: ["pc1", "pc2"],
      note: {
        zh: `服务器在 pc1 上，客户端在 pc2 上：右边画的是两台电脑的内核真正发出的包，每个都在引起它的调用下面。运行结束后，套接字表里 pc2 的那一行停在 <code>TIME_WAIT</code>，它已经没有 fd 了。`,
        en: `The server runs on pc1 and the client on pc2: the diagram shows the packets the two kernels really sent, each under the call that caused it. When the run ends, the socket table keeps pc2's side of the connection in <code>TIME_WAIT</code>, with no fd any more.`,
      },
      programs: [
        { name: "server.py", host: "pc1", python: HANDSHAKE_SERVER_PY, },
        { name: "client.py", host: "pc2", python: handshakeClientPy("pc1") },
      ],
      code: handshakeJs(["pc1", "pc2"], "pc1"),
      check: {
        ...handshakeCheck("10\\.0\\.0\\.2"),
        // (An ACK may ride with the next packet: these are the ones that always travel alone.)
        packets: ["SYN", "SYN, ACK", "ACK", "PSH, ACK", "FIN, ACK", "FIN, ACK", "ACK"],
      },
    },
  },
];

export const PLAYGROUND = {
  id: "playground",
  number: 0,
  title: { zh: "练习场", en: "Playground" },
  summary: {
    zh: "自由编写代码，使用完整的 socket 接口和同样的实时视图。",
    en: "Write any code against the full socket API, with the same live view.",
  },
  explain: {
    zh: `<p>在这里写任何代码。JavaScript 里可以使用：<code>bridge</code>（已经连好的会话，<code>bridge.socket()</code>、<code>bridge.select()</code>、<code>bridge.getaddrinfo()</code>……），所有常量（<code>AF_INET</code>、<code>SOCK_STREAM</code>、<code>SO_REUSEADDR</code>、<code>ECONNREFUSED</code>……），<code>labs</code>（实验服务的地址：echo、discard、daytime、chargen，各有 TCP 和 UDP），以及 <code>print()</code>。运行结束时，所有没关闭的 socket 都会被关闭。</p><p>Python 代码照教程的写法（<code>from socket import *</code>），在页面里由 Pyodide 运行，<code>socket</code> 模块走的是 sockbridge。第一次运行要先加载 Python（约 13 MB）。在 JavaScript 标签里，同样的接口写成 JavaScript。</p>`,
    en: `<p>Write any code here. In JavaScript, in scope: <code>bridge</code> (a connected session: <code>bridge.socket()</code>, <code>bridge.select()</code>, <code>bridge.getaddrinfo()</code>, ...), every constant (<code>AF_INET</code>, <code>SOCK_STREAM</code>, <code>SO_REUSEADDR</code>, <code>ECONNREFUSED</code>, ...), <code>labs</code> (the lab services' addresses: echo, discard, daytime and chargen, each over TCP and UDP), and <code>print()</code>. When the run ends, every socket still open is closed.</p><p>Python code, written as the tutorial writes it (<code>from socket import *</code>), runs in the page in Pyodide, and its <code>socket</code> module is sockbridge's. The first run loads Python (about 13 MB). The JavaScript tab has the same API in JavaScript.</p>`,
  },
  code: `// select 等待多个 socket 中的任何一个就绪 / select waits until any of several sockets is ready
const tcp = await bridge.socket(AF_INET, SOCK_STREAM);
await tcp.connect(labs.daytime_tcp);
const udp = await bridge.socket(AF_INET, SOCK_DGRAM);
await udp.sendto("hello?", labs.echo_udp);

const [readable] = await bridge.select([tcp, udp], [], [], 5.0);
print(readable.length, "socket(s) ready to read");
for (const s of readable) {
  print("fd", s.fileno(), "->", s.type === SOCK_DGRAM ? await s.recvfrom(1024) : await s.recv(1024));
}
print(await bridge.getaddrinfo("localhost", 80, AF_INET, SOCK_STREAM));
`,
  python: `# Python，和教程里一样 / Python, as the tutorial writes it
from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 0))
server.listen(5)
print('listening on', server.getsockname())

client = socket(AF_INET, SOCK_STREAM)
client.connect(server.getsockname())
conn, addr = server.accept()
print('connection from', addr)

client.sendall(b'hello, sockets')
conn.sendall(conn.recv(1024))
print(client.recv(1024))
for s in (client, conn, server):
    s.close()

try:
    socket(AF_INET, SOCK_STREAM).connect(('127.0.0.1', 9))
except OSError as e:
    print(type(e).__name__, e)
`,
  check: {
    python: {
      output: [
        "^listening on \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^connection from \\('127\\.0\\.0\\.1', \\d+\\)$",
        "^b'hello, sockets'$",
        "^PermissionError \\[Errno \\d+\\] Permission denied: ",
      ],
      calls: ["bind", "listen", "accept", "connect", "sendall", "recv"],
      sockets: 3,
    },
    output: ["socket\\(s\\) ready to read$", "^fd \\d+ -> ", "^\\[\\(2, 1, 6, '', \\('127\\.0\\.0\\.1', 80\\)\\)\\]$"],
    calls: ["select", "getaddrinfo"],
    sockets: 2,
  },  // With a private network the kernel answers the last connect: nobody listens on port 9 of pc1.
  private: {
    check: {
      python: {
        output: [
          "^listening on \\('127\\.0\\.0\\.1', \\d+\\)$",
          "^connection from \\('127\\.0\\.0\\.1', \\d+\\)$",
          "^b'hello, sockets'$",
          "^ConnectionRefusedError \\[Errno \\d+\\] Connection refused$",
        ],
        calls: ["bind", "listen", "accept", "connect", "sendall", "recv"],
        sockets: 3,
      },
      output: ["socket\\(s\\) ready to read$", "^fd \\d+ -> ", "^\\[\\(2, 1, 6, '', \\('127\\.0\\.0\\.1', 80\\)\\)\\]$"],
      calls: ["select", "getaddrinfo"],
      sockets: 2,
    },
  },
};

/**
 * What the lessons' programs print, in Chinese: on a Chinese page the same programs print these
 * words instead (API names such as `getsockname():` stay as they are). Each is a whole string
 * literal of the code, in Python and in JavaScript.
 */
export const PRINTED_ZH = {
  "server runs on": "服务器运行在",
  "client runs on": "客户端运行在",
  "sent 0 to 19 from": "已发送 0 到 19，发送方",
  "of 20:": "个，共 20 个:",
  "got": "收到",
  "lost:": "丢失:",
  "overtaken:": "被超过的:",
  "connected:": "已连接:",
  "server got": "服务器收到",
  "<- the client's FIN": "<- 客户端的 FIN",
  "client closed first: its side waits in TIME_WAIT": "客户端先关闭：它这一端进入 TIME_WAIT",
  "server:": "服务器:",
  "client: me": "客户端: 我是",
  "server: me": "服务器: 我是",
  "-> peer": "-> 对方",
  "fileno:": "fileno 编号:",
  "after close, a.fileno():": "关闭之后 a.fileno():",
  "a new socket takes the freed number:": "新的 socket 用上了空出来的编号:",
  "AF_INET?": "是 AF_INET 吗?",
  "SOCK_STREAM?": "是 SOCK_STREAM 吗?",
  "the tutorial's line:": "教程的那一行:",
  "closed:": "关闭之后:",
  "echo server on": "回显服务器的地址",
  "accepted": "接受了",
  "as fd": "编号 fd",
  "got back": "收到回音",
  "daytime:": "daytime 服务:",
  "connect_ex to the echo service:": "connect_ex 连 echo 服务:",
  "connect_ex to a closed port:": "connect_ex 连没人监听的端口:",
  "connect raised": "connect 抛出",
  "errno:": "errno 错误号:",
  "is errno.ECONNREFUSED:": "等于 errno.ECONNREFUSED 吗:",
  "code:": "code 名字:",
  "is an OSError:": "是 OSError 吗:",
  "a blocking send() returned": "阻塞的 send() 返回",
  "sendall() returned": "sendall() 返回",
  "send() sent": "send() 只发了",
  "of": "字节，要发的是",
  "bytes": "字节",
  "the buffers are full after": "缓冲区满了，一共发了",
  "bytes: BlockingIOError": "字节: BlockingIOError",
  "<- EOF: the peer closed": "<- EOF: 对方关闭了",
  "sendto returned": "sendto 返回",
  "b got": "b 收到",
  "from": "来自",
  "a got": "a 收到",
  "echo service:": "echo 服务:",
  "the server reads": "服务器读到",
  "after the client closed": "（客户端已经关闭）",
  "using a closed socket:": "使用已关闭的 socket:",
  "restarting the server on": "在这个地址重启服务器:",
  "without SO_REUSEADDR:": "不设 SO_REUSEADDR:",
  "with SO_REUSEADDR: listening on": "设了 SO_REUSEADDR: 在这里监听",
  "recv with a timeout:": "有超时的 recv:",
  "non-blocking recv:": "非阻塞的 recv:",
  "later:": "之后:",
  "the client got": "客户端收到",
  "after close, conn.fileno():": "关闭之后 conn.fileno():",
  "socket(s) ready to read": "个 socket 可以读了",
  "listening on": "在这里监听",
  "connection from": "连接来自",
};

/** A lesson's code as a page in `lang` shows it: on a Chinese page, its printed words are Chinese. */
export function localized(code, lang) {
  if (lang !== "zh") return code;
  // A literal runs to the next quote of its own kind: "the client's FIN" is one literal.
  return code.replace(/(["'])((?:(?!\1)[^\\\n])*)\1/g, (literal, quote, text) =>
    Object.hasOwn(PRINTED_ZH, text) ? `${quote}${PRINTED_ZH[text]}${quote}` : literal);
}

/**
 * An exercise at the end of a lesson, checked in the page after each run: every `output` pattern
 * must match a line some program printed, and every `calls` pattern a call the diagram drew (its
 * text, e.g. `socket(AF_INET, SOCK_DGRAM)`), `atLeast` times where given. The lesson's own code
 * does not solve it; `hint` says what is still missing.
 */
export const EXERCISES = {
  naming: {
    task: {
      zh: "再建一个 UDP 套接字（<code>SOCK_DGRAM</code>），把它绑定到端口 0，打印它的名字（<code>getsockname()</code>）。UDP 套接字的名字也是（地址，端口）。",
      en: "Make a UDP socket too (<code>SOCK_DGRAM</code>), bind it to port 0 and print its name (<code>getsockname()</code>). A UDP socket's name is an (address, port) pair as well.",
    },
    hint: { zh: "还没有看到一个 SOCK_DGRAM 套接字被绑定。", en: "No SOCK_DGRAM socket was made and bound yet." },
    calls: ["^socket\\(AF_INET, SOCK_DGRAM\\)", { re: "^bind\\(", atLeast: 2 }],
  },
  "what-is-a-socket": {
    task: {
      zh: "用一个循环再建五个套接字，打印每一个的 <code>fileno()</code>：新套接字总是拿到最小的空闲编号。",
      en: "Make five more sockets in a loop and print each one's <code>fileno()</code>: a new socket always gets the lowest free number.",
    },
    hint: { zh: "图里还没有五个以上的 socket() 调用。", en: "The diagram does not show more than five socket() calls yet." },
    calls: [{ re: "^socket\\(", atLeast: 6 }],
  },
  creating: {
    task: {
      zh: "再建一个 IPv6 的 TCP 套接字（<code>AF_INET6, SOCK_STREAM</code>），打印它的 <code>family</code>。",
      en: "Create an IPv6 TCP socket as well (<code>AF_INET6, SOCK_STREAM</code>) and print its <code>family</code>.",
    },
    hint: { zh: "还没有 socket(AF_INET6, SOCK_STREAM) 调用。", en: "There is no socket(AF_INET6, SOCK_STREAM) call yet." },
    calls: ["^socket\\(AF_INET6, SOCK_STREAM"],
  },
  server: {
    task: {
      zh: "让服务器把收到的数据变成大写再发回去（<code>data.upper()</code>），客户端就会收到 <code>b'HELLO FROM ALICE'</code>。",
      en: "Make the server send back what it receives in capital letters (<code>data.upper()</code>), so the client gets <code>b'HELLO FROM ALICE'</code>.",
    },
    hint: { zh: "客户端还没有收到 b'HELLO FROM ALICE'。", en: "The client has not got b'HELLO FROM ALICE' back yet." },
    output: ["b'HELLO FROM ALICE'"],
  },
  client: {
    task: {
      zh: "连接 echo 服务（<code>labs.echo_tcp</code>），发送 <code>b'ping'</code>，打印它发回来的内容。",
      en: "Connect to the echo service (<code>labs.echo_tcp</code>), send <code>b'ping'</code> and print what comes back.",
    },
    hint: { zh: "还没有打印出 echo 服务发回的 b'ping'。", en: "Nothing printed the b'ping' the echo service sends back yet." },
    output: ["b'ping'"],
    calls: ["^send(all)?\\((b'ping'|'ping')\\)"],
  },
  "send-recv": {
    task: {
      zh: "从 chargen 服务读 100 个字节：用一个循环，每次 <code>recv(10)</code>，最后打印一共收到多少字节（100）。",
      en: "Read 100 bytes from the chargen service with a loop of <code>recv(10)</code> calls, then print how many bytes you got (100).",
    },
    hint: { zh: "还没有十次 recv(10)，或者还没有打印 100。", en: "There are not ten recv(10) calls yet, or 100 was not printed." },
    output: ["\\b100\\b"],
    calls: [{ re: "^recv\\(10(, 0)?\\)", atLeast: 10 }],
  },
  udp: {
    task: {
      zh: "给 echo 服务（<code>labs.echo_udp</code>）发三个数据报 <code>b'1'</code>、<code>b'2'</code>、<code>b'3'</code>，打印收到的三个回答。",
      en: "Send the echo service (<code>labs.echo_udp</code>) three datagrams, <code>b'1'</code>, <code>b'2'</code> and <code>b'3'</code>, and print the three answers.",
    },
    hint: { zh: "还没有打印出 b'1'、b'2' 和 b'3' 三个回答。", en: "The answers b'1', b'2' and b'3' were not all printed yet." },
    output: ["b'1'", "b'2'", "b'3'"],
    calls: [{ re: "^sendto\\(", atLeast: 8 }],
  },
  "close-names": {
    task: {
      zh: "也打印服务器那一端的名字：<code>conn.getsockname()</code> 和 <code>conn.getpeername()</code>。它们正好是客户端那两个名字，反过来。",
      en: "Print the server side's names too: <code>conn.getsockname()</code> and <code>conn.getpeername()</code>. They are the client's two names, the other way round.",
    },
    hint: { zh: "conn 的 getpeername() 还没有调用。", en: "conn's getpeername() was not called yet." },
    calls: [{ re: "^getpeername\\(", atLeast: 2 }, { re: "^getsockname\\(", atLeast: 3 }],
  },
  reuseaddr: {
    task: {
      zh: "问问内核 <code>plain</code> 有没有设置 SO_REUSEADDR：打印 <code>plain.getsockopt(SOL_SOCKET, SO_REUSEADDR)</code>（是 0）。",
      en: "Ask the kernel whether <code>plain</code> has SO_REUSEADDR set: print <code>plain.getsockopt(SOL_SOCKET, SO_REUSEADDR)</code> (it is 0).",
    },
    hint: { zh: "还没有第二次 getsockopt，或者没有打印出 0。", en: "There is no second getsockopt yet, or 0 was not printed." },
    output: ["(^|\\D)0$"],
    calls: [{ re: "^getsockopt\\(", atLeast: 2 }],
  },
  timeouts: {
    task: {
      zh: "给一个新的 UDP 套接字设 0.2 秒的超时（<code>settimeout(0.2)</code>），调用 <code>recvfrom</code>，打印异常的类名。",
      en: "Give a new UDP socket a timeout of 0.2 seconds (<code>settimeout(0.2)</code>), call <code>recvfrom</code> on it and print the exception's class name.",
    },
    hint: { zh: "还没有 settimeout(0.2) 和之后的 recvfrom。", en: "There is no settimeout(0.2) with a recvfrom after it yet." },
    output: ["TimeoutError"],
    calls: ["^settimeout\\(0\\.2\\)", "^recvfrom\\("],
  },
  "fileno-makefile": {
    task: {
      zh: "让服务器再写一行 <code>b\"221 Bye\\r\\n\"</code>（在 <code>flush()</code> 之前），客户端用 <code>lines.readline()</code> 读出来并打印。",
      en: "Make the server write one more line, <code>b\"221 Bye\\r\\n\"</code> (before its <code>flush()</code>), and have the client read it with <code>lines.readline()</code> and print it.",
    },
    hint: { zh: "客户端还没有打印出 221 Bye。", en: "The client has not printed 221 Bye yet." },
    output: ["221 Bye"],
  },
  handshake: {
    task: {
      zh: "让服务器在收到 <code>b'hello'</code> 之后回一句 <code>b'bye'</code>，客户端在关闭之前读出来并打印。实时视图里数据会朝两个方向走。",
      en: "Make the server answer <code>b'hello'</code> with <code>b'bye'</code>, and have the client read it and print it before it closes. The live view then shows data going both ways.",
    },
    hint: { zh: "客户端还没有打印出 b'bye'。", en: "The client has not printed b'bye' yet." },
    output: ["b'bye'"],
    calls: [{ re: "^recv\\(", atLeast: 3 }],
  },
};
