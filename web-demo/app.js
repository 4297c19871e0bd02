// The teaching pages: lessons that follow the socket tutorial, each with runnable code, its output
// printed as Python would print it, and a live view of what happens. Served by bridge-daemon, so the
// page connects to the daemon that served it with no configuration.

import * as sb from "./pkg/sockbridge.js";
import { LESSONS, PLAYGROUND } from "./lessons.js";
import { printed } from "./repr.js";
import { LiveView } from "./liveview.js";

// The daemon prints this page's address with its token (#sb-token=…): keep the token for this
// origin and take it out of the address bar before the hash is read as a route.
sb.takePageToken();

const UI = {
  zh: {
    tagline: "用 Python 的 socket 接口，在浏览器里使用真正的网络套接字",
    home: "课程", lessons: "课程", playground: "练习场", protocol: "底层协议",
    intro: "这些课程跟随 socket 教程的章节。每一课都有可以修改、可以运行的代码：它在页面里通过 sockbridge 使用真正的 TCP、UDP 和 Unix 套接字。右边的图实时画出每一次调用：页面、桥接守护进程、网络另一端之间发生了什么；下面的表列出每个 socket 的状态。",
    introNote: "代码是 JavaScript，写法尽量贴近 Python：每个可能等待的调用前面加 await，地址写成数组 [\"127.0.0.1\", 8080]，print() 的输出和 Python 一样。",
    run: "运行", stop: "停止", reset: "还原代码", running: "运行中…", done: "完成", failed: "出错了", stopped: "已停止",
    output: "输出", language: "语言", python: "教程里的 Python 写法", live: "实时视图", sockets: "套接字表", code: "代码（可以修改）",
    lanePage: "页面（你的代码）", laneDaemon: "桥接守护进程", lanePeer: "对端 / 内核",
    diagramEmpty: "运行代码后，这里会画出每一次调用。", tableEmpty: "还没有套接字。",
    colFd: "fd", colFamily: "地址族", colType: "类型", colState: "状态", colLocal: "本地地址", colRemote: "远端地址", colTimeout: "超时",
    stateNew: "新建", stateBound: "已绑定", stateListening: "监听中", stateConnected: "已连接", stateClosed: "已关闭",
    blocking: "阻塞", nonBlocking: "非阻塞", timedOut: "超时了", peerClosed: "对方已关闭 (EOF)", autoBound: "(自动分配)",
    acceptedFrom: (fd) => `由 fd ${fd} 接受`,
    wireConnect: "SYN → 建立连接", wireRefused: "RST ← 拒绝连接", wireAccept: "新连接到达", wireData: "数据", wireEof: "FIN ← 对方关闭 (EOF)", wireClose: "FIN → 关闭",
    prev: "← 上一课", next: "下一课 →", noDaemon: "连不上守护进程，或者它没有接受本页。请用 ./scripts/demo.sh 启动它，然后打开它打印出来的地址（地址末尾的 #sb-token=… 是这次运行的钥匙）。",
  },
  en: {
    tagline: "Real sockets in the browser, with Python's socket API",
    home: "Lessons", lessons: "Lessons", playground: "Playground", protocol: "The protocol underneath",
    intro: "These lessons follow the sections of the socket tutorial. Each has code you can edit and run: it uses real TCP, UDP and Unix sockets from this page, through sockbridge. The diagram draws every call as it happens, between the page, the bridge daemon and the other end of the network; the table below it shows the state of every socket.",
    introNote: "The code is JavaScript written as close to Python as it goes: put await before each call that may wait, write addresses as arrays [\"127.0.0.1\", 8080], and print() shows values as Python does.",
    run: "Run", stop: "Stop", reset: "Reset code", running: "running…", done: "done", failed: "error", stopped: "stopped",
    output: "Output", language: "Language", python: "The tutorial's Python", live: "Live view", sockets: "Sockets", code: "Code (edit me)",
    lanePage: "page (your code)", laneDaemon: "bridge daemon", lanePeer: "peer / kernel",
    diagramEmpty: "Run the code: every call will be drawn here.", tableEmpty: "No sockets yet.",
    colFd: "fd", colFamily: "family", colType: "type", colState: "state", colLocal: "local address", colRemote: "remote address", colTimeout: "timeout",
    stateNew: "new", stateBound: "bound", stateListening: "listening", stateConnected: "connected", stateClosed: "closed",
    blocking: "blocking", nonBlocking: "non-blocking", timedOut: "timed out", peerClosed: "peer closed (EOF)", autoBound: "(picked by the system)",
    acceptedFrom: (fd) => `accepted by fd ${fd}`,
    wireConnect: "SYN → connect", wireRefused: "RST ← refused", wireAccept: "a connection arrives", wireData: "data", wireEof: "FIN ← peer closed (EOF)", wireClose: "FIN → close",
    prev: "← previous", next: "next →", noDaemon: "Cannot reach the daemon, or it did not admit this page. Start it with ./scripts/demo.sh and open the address it prints (the #sb-token=… at its end is this run's key).",
  },
};

const ALL = [...LESSONS, PLAYGROUND];
const params = new URLSearchParams(location.search);
let lang = params.get("lang") ?? localStorage.getItem("sockbridge-lang") ?? (navigator.language.startsWith("zh") ? "zh" : "en");
if (!UI[lang]) lang = "en";
let current = null; // { bridge, stopped } of the run in progress
const edited = new Map(); // lesson id -> code the learner has changed

const $ = (selector, root = document) => root.querySelector(selector);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "html") node.innerHTML = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
};

function route() {
  const match = location.hash.match(/^#\/(lesson|playground)\/?([\w-]*)/);
  if (!match) return null;
  return match[1] === "playground" ? PLAYGROUND : LESSONS.find((l) => l.id === match[2]) ?? null;
}

function renderNav() {
  const t = UI[lang];
  const nav = $("#nav");
  nav.replaceChildren(el("div", { class: "group", text: t.lessons }));
  const here = route();
  for (const lesson of LESSONS) {
    const a = el("a", { href: `#/lesson/${lesson.id}`, text: `${lesson.number}. ${lesson.title[lang]}` });
    if (here === lesson) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  nav.append(el("div", { class: "group", text: t.playground }));
  const play = el("a", { href: "#/playground", text: t.playground });
  if (here === PLAYGROUND) play.setAttribute("aria-current", "page");
  nav.append(play, el("a", { href: "protocol.html", text: t.protocol }));
  for (const b of document.querySelectorAll(".lang button")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  $(".tagline").textContent = t.tagline;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

function renderHome() {
  const t = UI[lang];
  const cards = el("div", { class: "cards" });
  for (const lesson of ALL) {
    const href = lesson === PLAYGROUND ? "#/playground" : `#/lesson/${lesson.id}`;
    const heading = lesson === PLAYGROUND ? t.playground : `${lesson.number}. ${lesson.title[lang]}`;
    cards.append(el("a", { class: "card", href }, el("b", { text: heading }), el("span", { text: lesson.summary[lang] })));
  }
  $("#main").replaceChildren(el("section", { class: "home" },
    el("h1", { text: t.home }), el("div", { class: "explain" }, el("p", { text: t.intro }), el("p", { class: "note", text: t.introNote })), cards));
  document.title = "sockbridge";
}

function renderLesson(lesson) {
  const t = UI[lang];
  const index = LESSONS.indexOf(lesson);
  const title = lesson === PLAYGROUND ? t.playground : `${lesson.number}. ${lesson.title[lang]}`;
  const editor = el("textarea", { class: "editor", spellcheck: "false", "aria-label": t.code });
  // The playground takes Python too (the lessons' code is JavaScript for now).
  let language = "javascript";
  const key = () => (language === "python" ? `${lesson.id}-python` : lesson.id);
  const example = () => (language === "python" ? lesson.pythonCode : lesson.code);
  editor.value = edited.get(key()) ?? example();
  editor.addEventListener("input", () => edited.set(key(), editor.value));
  const languages = lesson.pythonCode
    ? el("select", { class: "language", "aria-label": t.language },
      el("option", { value: "javascript", text: "JavaScript" }), el("option", { value: "python", text: "Python" }))
    : null;
  languages?.addEventListener("change", () => {
    language = languages.value;
    editor.value = edited.get(key()) ?? example();
  });
  editor.addEventListener("keydown", (e) => {
    if (e.key === "Tab") {
      e.preventDefault();
      editor.setRangeText("  ", editor.selectionStart, editor.selectionEnd, "end");
    } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      runButton.click();
    }
  });
  const status = el("span", { class: "status", role: "status" });
  const runButton = el("button", { type: "button", class: "run", text: `▶ ${t.run}` });
  const stopButton = el("button", { type: "button", class: "stop", text: t.stop, disabled: "" });
  const resetButton = el("button", { type: "button", class: "reset", text: t.reset });
  const output = el("pre", { class: "output", "aria-live": "polite" });
  const diagram = el("div", { class: "diagram" });
  const table = el("table", { class: "sockets" });
  const view = new LiveView(diagram, table, t, sb);

  runButton.addEventListener("click", () => run(editor.value, { output, status, view, runButton, stopButton }, language));
  stopButton.addEventListener("click", () => stopRun(status));
  resetButton.addEventListener("click", () => {
    editor.value = example();
    edited.delete(key());
  });

  const parts = [el("h1", { text: title }), el("div", { class: "explain", html: lesson.explain[lang] })];
  if (lesson.note) parts.push(el("div", { class: "note", html: lesson.note[lang] }));
  if (lesson.python) {
    parts.push(el("details", { class: "python", open: "" }, el("summary", { text: t.python }), el("pre", { class: "python", text: lesson.python })));
  }
  const left = el("section", { class: "code" },
    el("h2", { text: t.code }), el("div", { class: "toolbar" }, ...(languages ? [languages] : []), runButton, stopButton, resetButton, status), editor,
    el("h2", { text: t.output }), output);
  const right = el("section", { class: "live" },
    el("h2", { text: t.live }), diagram, el("h2", { text: t.sockets }), el("div", { class: "table-wrap" }, table));
  parts.push(el("div", { class: "workbench" }, left, right));
  if (lesson !== PLAYGROUND) {
    const nav = el("nav", { class: "prevnext" });
    nav.append(index > 0 ? el("a", { href: `#/lesson/${LESSONS[index - 1].id}`, text: t.prev }) : el("span"));
    nav.append(index < LESSONS.length - 1 ? el("a", { href: `#/lesson/${LESSONS[index + 1].id}`, text: t.next }) : el("a", { href: "#/playground", text: `${t.playground} →` }));
    parts.push(nav);
  }
  $("#main").replaceChildren(el("article", { class: "lesson", "data-lesson": lesson.id }, ...parts));
  document.title = `${title} · sockbridge`;
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;

/** Python in the page, loaded once, on first use (it is 13 MB). */
let python = null;
async function getPython(bridge) {
  python ??= import("./python.js").then(({ startPython }) => startPython(bridge));
  try {
    const py = await python;
    py.setBridge(bridge);
    return py;
  } catch (e) {
    python = null;
    throw e;
  }
}

/** A Python traceback without Pyodide's own frames. */
function traceback(message) {
  const lines = String(message).trimEnd().split("\n");
  const start = lines.findIndex((l) => l.includes('File "<exec>"'));
  return (start > 0 ? ["Traceback (most recent call last):", ...lines.slice(start)] : lines).join("\n");
}
const NAMES = Object.keys(sb).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== "default");

/**
 * Runs lesson code in a fresh session. JavaScript: `bridge`, `labs`, `print` and every export are in
 * scope. Python: the tutorial's code as it is, with the bridge's `socket` and `select` modules.
 */
async function run(code, ui, language = "javascript") {
  await stopRun(null);
  const t = UI[lang];
  ui.output.replaceChildren();
  ui.view.reset();
  ui.status.textContent = t.running;
  ui.status.dataset.state = "running";
  ui.runButton.disabled = true;
  ui.stopButton.disabled = false;
  const write = (text, cls) => {
    ui.output.append(cls ? el("span", { class: cls, text: `${text}\n` }) : `${text}\n`);
  };
  const print = (...values) => write(printed(values, sb.Socket));
  const run = { bridge: null, stopped: false };
  current = run;
  let state = "done";
  try {
    run.bridge = await sb.Bridge.connect(undefined, { ontrace: (e) => ui.view.event(e) });
    if (language === "python") {
      const py = await getPython(run.bridge);
      await py.run(code, { print: (line) => write(line) });
    } else {
      const labs = run.bridge.hello.labs ?? {};
      const body = new AsyncFunction(...NAMES, "bridge", "labs", "print", code);
      await body(...NAMES.map((n) => sb[n]), run.bridge, labs, print);
    }
  } catch (e) {
    state = run.stopped ? "stopped" : "error";
    if (!run.stopped && language === "python" && e?.name === "PythonError") {
      write(traceback(e.message), "err");
    } else if (!run.stopped) {
      write(e instanceof Error && e.name ? `${e.name}: ${e.message}` : String(e), "err");
      if (e?.name === "ConnectionError" && !run.bridge) write(t.noDaemon, "err");
    }
  } finally {
    run.bridge?.close(); // the session's end closes every socket the code left open
    if (current === run) current = null;
    ui.status.textContent = { done: t.done, error: t.failed, stopped: t.stopped }[state];
    ui.status.dataset.state = state;
    ui.runButton.disabled = false;
    ui.stopButton.disabled = true;
  }
}

async function stopRun(status) {
  if (!current) return;
  current.stopped = true;
  current.bridge?.close();
  current = null;
  if (status) status.textContent = UI[lang].stopped;
}

function render() {
  renderNav();
  const lesson = route();
  if (lesson) renderLesson(lesson);
  else renderHome();
}

for (const button of document.querySelectorAll(".lang button")) {
  button.addEventListener("click", () => {
    lang = button.dataset.lang;
    localStorage.setItem("sockbridge-lang", lang);
    render();
  });
}
window.addEventListener("hashchange", async () => {
  // A link within the page may bring a token too (#/lesson/server&sb-token=…).
  sb.takePageToken();
  await stopRun(null);
  render();
  window.scrollTo(0, 0);
});
render();
window.sockbridgeLessons = { LESSONS, PLAYGROUND, UI }; // for the page tests
