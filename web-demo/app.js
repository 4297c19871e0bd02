// The teaching pages: lessons that follow the socket tutorial, each with runnable code, its output
// printed as Python would print it, and a live view of what happens. Served by bridge-daemon, so the
// page connects to the daemon that served it with no configuration.

import * as sb from "./pkg/sockbridge.js";
import { EXERCISES, LESSONS, PLAYGROUND, PRINTED_ZH, localized } from "./lessons.js";
import { printed } from "./repr.js";
import { LiveView } from "./liveview.js";
import { canRunPython } from "./python.js";

// The daemon prints this page's address with its token (#sb-token=…): keep the token for this
// origin and take it out of the address bar before the hash is read as a route.
sb.takePageToken();

const UI = {
  zh: {
    tagline: "用 Python 的 socket 接口，在浏览器里使用真正的网络套接字",
    skip: "跳到课程内容", exercise: "练习", exerciseTodo: "运行你的代码，这里会告诉你是否完成。", solved: "✓ 完成了！", notYet: "✗ 还没有：",
    exerciseNeedsDone: "程序要先正常结束。", endedWithProgram: "程序已经结束，这个调用没有等到结果（少了 await？）", fileOn: (fd) => `fd ${fd} 上的文件对象`, stoppedByStop: "被“停止”按钮停止", editorKeys: "编辑时 Tab 键缩进；按 Esc 再按 Tab 离开编辑器；Ctrl+Enter 运行。", colNote: "说明", tableCaption: "这个页面创建的每一个套接字；已关闭的划了删除线。",
    home: "课程", lessons: "课程", playground: "练习场", protocol: "底层协议",
    intro: "这些课程跟随 socket 教程的章节。每一课都有可以修改、可以运行的代码：它在页面里通过 sockbridge 使用真正的 TCP、UDP 和 Unix 套接字。右边的图实时画出每一次调用：页面、桥接守护进程、网络另一端之间发生了什么；下面的表列出每个 socket 的状态。",
    introNote: "代码是 Python，照教程的写法：它就在这个页面里运行（Pyodide，也就是编译成 WebAssembly 的 CPython），socket 模块走 sockbridge。每一课还有一个 JavaScript 标签，是同样的程序用 sockbridge 的 JavaScript 接口写成的，给想在自己网页里用它的人看。",
    run: "运行", stop: "停止", reset: "还原代码", share: "分享代码", shareHint: "复制这个链接：打开它的人会在编辑器里看到这段代码（要按“运行”才会运行）。",
    replay: "重放", step: "下一步", speed: "速度", speeds: ["慢", "中", "快"], background: "（后台任务出错）", running: "运行中…", waiting: "等待中…", loadingPython: "正在加载 Python（约 13 MB）…", done: "完成", failed: "出错了", stopped: "已停止",
    output: "输出", language: "语言", live: "实时视图", sockets: "套接字表", code: "代码（可以修改）",
    tutorial: "教程的原始代码（一字未改）", tryTutorial: "放进编辑器运行", stopHint: "停止这个程序（相当于 Ctrl-C）",
    errorAt: (line) => `第 ${line} 行出错`,
    dropped: (n) => `（前面 ${n} 行已经省略，这里只保留最新的 ${MAX_OUTPUT_LINES} 行）`,
    noJspi: "这个浏览器不能让 Python 在等待网络时暂停（它没有 WebAssembly 的 JavaScript Promise Integration，JSPI；Chrome 和 Edge 从 137 版起有），所以这里的课程用 JavaScript 运行。",
    lanePage: "页面（你的代码）", laneDaemon: "桥接守护进程", lanePeer: "网络（真实的包要有私有网络才画得出）",
    diagramEmpty: "运行代码后，这里会画出每一次调用。", tableEmpty: "还没有套接字。",
    colFd: "fd", colFamily: "地址族", colType: "类型", colState: "状态", colLocal: "本地地址", colRemote: "远端地址", colTimeout: "超时",
    stateNew: "新建", stateBound: "已绑定", stateListening: "监听中", stateConnected: "已连接", stateClosed: "已关闭",
    blocking: "阻塞", nonBlocking: "非阻塞", timedOut: "超时了", peerClosed: "对方已关闭 (EOF)", autoBound: "(自动分配)",
    acceptedFrom: (fd) => `由 fd ${fd} 接受`,
    laneNetwork: "网络上的包（真实的）", colKernel: "内核状态", kernelOnly: "只在内核里（没有 fd）",
    moreSegments: (n) => `还有 ${n} 个 TCP 段`, acksBack: (n) => `${n} 个回复的 ACK`,
    fates: { lost: "✗ 丢失", duplicated: "收到两次", reordered: "被延后（后面的包先到）", "no-host": "✗ 没有这台主机", "queue-full": "✗ 队列满，丢弃", "over-rate": "✗ 太快，丢弃", "over-network-rate": "✗ 超过网络限速，丢弃" },
    onHost: (host) => `在 ${host} 上运行`,
    privateNote: (hosts) => `这个页面有自己的私有网络：${hosts} 是真正不同的“电脑”（Linux 网络命名空间），右边画出的是内核真正发出的包。`,
    prev: "← 上一课", next: "下一课 →", noDaemon: "连不上守护进程，或者它没有接受本页。请用 ./scripts/demo.sh 启动它，然后打开它打印出来的地址（地址末尾的 #sb-token=… 是这次运行的钥匙）。",
  },
  en: {
    tagline: "Real sockets in the browser, with Python's socket API",
    skip: "Skip to the lesson", exercise: "Exercise", exerciseTodo: "Run your code: this says whether it solves the exercise.", solved: "✓ Solved!", notYet: "✗ Not yet: ",
    exerciseNeedsDone: "the programs must end without an error first.", endedWithProgram: "the program ended before this call returned (a missing await?)", fileOn: (fd) => `a file object on fd ${fd}`, stoppedByStop: "stopped by the Stop button", editorKeys: "While you edit, Tab indents; Escape, then Tab, leaves the editor; Ctrl+Enter runs.", colNote: "note", tableCaption: "Every socket this page made; closed ones are struck through.",
    home: "Lessons", lessons: "Lessons", playground: "Playground", protocol: "The protocol underneath",
    intro: "These lessons follow the sections of the socket tutorial. Each has code you can edit and run: it uses real TCP, UDP and Unix sockets from this page, through sockbridge. The diagram draws every call as it happens, between the page, the bridge daemon and the other end of the network; the table below it shows the state of every socket.",
    introNote: "The code is Python, as the tutorial writes it: it runs in this page (Pyodide, which is CPython compiled to WebAssembly), and its socket module goes through sockbridge. Each lesson also has a JavaScript tab: the same program with sockbridge's JavaScript API, for page authors.",
    run: "Run", stop: "Stop", reset: "Reset code", share: "Share code", shareHint: "Copy this link: whoever opens it gets this code in the editor (it runs only when they press Run).",
    replay: "Replay", step: "Step", speed: "Speed", speeds: ["slow", "medium", "fast"], background: "(an error in a background task)", running: "running…", waiting: "waiting…", loadingPython: "loading Python (about 13 MB)…", done: "done", failed: "error", stopped: "stopped",
    output: "Output", language: "Language", live: "Live view", sockets: "Sockets", code: "Code (edit me)",
    tutorial: "The tutorial's own code, exactly as written", tryTutorial: "Put it in the editor", stopHint: "Stop this program (Ctrl-C)",
    errorAt: (line) => `error at line ${line}`,
    dropped: (n) => `(${n} earlier lines left out: the pane keeps the newest ${MAX_OUTPUT_LINES})`,
    noJspi: "This browser cannot pause Python while it waits for the network (it lacks WebAssembly JavaScript Promise Integration, JSPI, which Chrome and Edge have from version 137), so the lessons run in JavaScript here.",
    lanePage: "page (your code)", laneDaemon: "bridge daemon", lanePeer: "the network (its real packets show with a private network)",
    diagramEmpty: "Run the code: every call will be drawn here.", tableEmpty: "No sockets yet.",
    colFd: "fd", colFamily: "family", colType: "type", colState: "state", colLocal: "local address", colRemote: "remote address", colTimeout: "timeout",
    stateNew: "new", stateBound: "bound", stateListening: "listening", stateConnected: "connected", stateClosed: "closed",
    blocking: "blocking", nonBlocking: "non-blocking", timedOut: "timed out", peerClosed: "peer closed (EOF)", autoBound: "(picked by the system)",
    acceptedFrom: (fd) => `accepted by fd ${fd}`,
    laneNetwork: "packets on the network (real)", colKernel: "kernel state", kernelOnly: "in the kernel only (no fd)",
    moreSegments: (n) => `${n} more TCP segments`, acksBack: (n) => `${n} ACKs back`,
    fates: { lost: "✗ lost", duplicated: "arrived twice", reordered: "held back (later packets overtook it)", "no-host": "✗ no such host", "queue-full": "✗ queue full, dropped", "over-rate": "✗ too fast, dropped", "over-network-rate": "✗ over the network's rate, dropped" },
    onHost: (host) => `runs on ${host}`,
    privateNote: (hosts) => `This page has a private network of its own: ${hosts} are really different computers (Linux network namespaces), and the diagram shows the packets their kernels really sent.`,
    prev: "← previous", next: "next →", noDaemon: "Cannot reach the daemon, or it did not admit this page. Start it with ./scripts/demo.sh and open the address it prints (the #sb-token=… at its end is this run's key).",
  },
};

const ALL = [...LESSONS, PLAYGROUND];

/**
 * How the daemon that served this page networks its sessions (`hello.network`): a private network
 * of hosts per page, or the shared loopback. Read once, from a session opened and closed for it.
 */
const NETWORK = await sb.Bridge.connect().then((bridge) => {
  const network = bridge.hello.network ?? { mode: "shared" };
  bridge.close();
  return network;
}, () => ({ mode: "shared" }));
const PRIVATE = NETWORK.mode === "private";

/** A lesson as this page runs it: its private-network form where the page has a network. */
function variant(lesson) {
  return PRIVATE && lesson.private ? { ...lesson, ...lesson.private } : lesson;
}
const params = new URLSearchParams(location.search);
let lang = params.get("lang") ?? localStorage.getItem("sockbridge-lang") ?? (navigator.language.startsWith("zh") ? "zh" : "en");
if (!UI[lang]) lang = "en";
let current = null; // the lesson on the page: its programs and their session
/** The most characters of one program the page keeps or shares. */
const MAX_SAVED = 64 * 1024;

/**
 * The learner's edits, kept in this browser across reloads: by lesson, network mode, page
 * language, code language and program. A browser that keeps nothing (private mode, full storage)
 * keeps them until the tab closes.
 */
const edited = {
  memory: new Map(),
  get(key) {
    try {
      return localStorage.getItem(`sockbridge-edit:${key}`) ?? this.memory.get(key);
    } catch {
      return this.memory.get(key);
    }
  },
  set(key, text) {
    if (text.length > MAX_SAVED) return;
    this.memory.set(key, text);
    try {
      localStorage.setItem(`sockbridge-edit:${key}`, text);
    } catch { /* kept in memory only */ }
  },
  delete(key) {
    this.memory.delete(key);
    try {
      localStorage.removeItem(`sockbridge-edit:${key}`);
    } catch { /* nothing kept */ }
  },
};

/** A lesson's code as a link: base64url of {language, programs: {name: source}}, after `&code=`. */
function shareLink(lesson, language, slots) {
  const programs = Object.fromEntries(slots.map((s) => [s.name, s.editor.editor.value.slice(0, MAX_SAVED)]));
  const bytes = new TextEncoder().encode(JSON.stringify({ language, programs }));
  const base64 = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  const code = base64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const where = lesson === PLAYGROUND ? "#/playground" : `#/lesson/${lesson.id}`;
  return `${location.origin}${location.pathname}${location.search}${where}&code=${code}`;
}

/**
 * The code a shared link brought (`&code=…` in the address), taken out of the address so a reload
 * does not bring it again; null if none or unreadable.
 */
function takeSharedCode() {
  const match = location.hash.match(/&code=([A-Za-z0-9_-]+)/);
  if (!match) return null;
  history.replaceState(null, "", location.href.replace(match[0], ""));
  try {
    const binary = atob(match[1].replaceAll("-", "+").replaceAll("_", "/"));
    const shared = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (!["python", "javascript"].includes(shared?.language) || !shared.programs || typeof shared.programs !== "object") return null;
    return shared;
  } catch {
    return null;
  }
}

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
  // On a phone the list is one scrolling row: bring the current lesson into it.
  const currentLink = nav.querySelector("[aria-current]");
  if (currentLink && nav.scrollWidth > nav.clientWidth) {
    nav.scrollLeft = currentLink.offsetLeft - (nav.clientWidth - currentLink.offsetWidth) / 2;
  }
  for (const b of document.querySelectorAll(".lang button")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  $(".tagline").textContent = t.tagline;
  $(".skip").textContent = t.skip;
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

/** The lesson's Python programs: `programs`, or its one `python` as `<id>.py`. */
function pythonPrograms(lesson) {
  if (lesson.programs) return lesson.programs;
  return lesson.python ? [{ name: `${lesson.id}.py`, python: lesson.python }] : [];
}

/** The language a lesson opens in: the learner's last choice, else Python where it can run. */
function startLanguage(lesson) {
  const hasPython = pythonPrograms(lesson).length > 0 && canRunPython();
  const chosen = localStorage.getItem("sockbridge-code");
  if (!hasPython) return "javascript";
  return chosen === "javascript" ? "javascript" : "python";
}

/** An editor with line numbers, whose line can be marked (an error's). */
function makeEditor(t, label, onInput, onRun) {
  const editor = el("textarea", { class: "editor", spellcheck: "false", "aria-label": label });
  const gutter = el("div", { class: "gutter", "aria-hidden": "true" });
  const numbers = () => {
    const count = editor.value.split("\n").length;
    if (gutter.childElementCount !== count) {
      gutter.replaceChildren(...Array.from({ length: count }, (_, i) => el("span", { text: String(i + 1) })));
    }
  };
  editor.addEventListener("input", () => {
    numbers();
    mark(null);
    onInput(editor.value);
  });
  editor.addEventListener("scroll", () => { gutter.scrollTop = editor.scrollTop; });
  // Tab indents while the student edits; a Tab that only passes through (the editor reached by
  // Tab, nothing typed yet) goes on to the next control, and Escape stops editing, so the keyboard
  // is never trapped. Ctrl+Enter runs.
  let editing = false;
  editor.setAttribute("aria-description", t.editorKeys);
  editor.addEventListener("focus", () => { editing = false; });
  editor.addEventListener("pointerdown", () => { editing = true; });
  editor.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      editing = false;
    } else if (e.key === "Tab" && editing && !e.shiftKey) {
      e.preventDefault();
      editor.setRangeText("    ", editor.selectionStart, editor.selectionEnd, "end");
    } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      onRun();
    } else if (e.key !== "Tab" && e.key !== "Shift") {
      editing = true;
    }
  });
  function mark(line) {
    for (const n of gutter.querySelectorAll(".err")) n.classList.remove("err");
    editor.setAttribute("aria-description", t.editorKeys);
    if (!line) return;
    gutter.children[line - 1]?.classList.add("err");
    editor.setAttribute("aria-description", t.errorAt(line));
    // Show the line: scroll it into the editor's view.
    const lineHeight = editor.scrollHeight / Math.max(1, gutter.childElementCount);
    editor.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }
  const set = (text) => {
    editor.value = text;
    numbers();
    mark(null);
  };
  return { wrap: el("div", { class: "editor-wrap" }, gutter, editor), editor, set, mark };
}

function renderLesson(shown) {
  const t = UI[lang];
  const lesson = variant(shown);
  const index = LESSONS.indexOf(shown);
  const title = lesson === PLAYGROUND ? t.playground : `${lesson.number}. ${lesson.title[lang]}`;
  const programs = pythonPrograms(lesson);
  const status = el("span", { class: "status", role: "status" });
  const runButton = el("button", { type: "button", class: "run", text: `▶ ${t.run}` });
  const stopButton = el("button", { type: "button", class: "stop", text: `■ ${t.stop}`, disabled: "" });
  const resetButton = el("button", { type: "button", class: "reset", text: t.reset });
  const shareButton = el("button", { type: "button", class: "share", text: t.share });
  const shareBox = el("input", { class: "share-link", readonly: "", "aria-label": t.shareHint, title: t.shareHint, hidden: "" });
  // Replay draws the last run's diagram again, a step at a time, at the speed chosen.
  const replayButton = el("button", { type: "button", class: "replay", text: `⟲ ${t.replay}` });
  const stepButton = el("button", { type: "button", class: "step-once", text: `${t.step} ▸` });
  const speed = el("select", { class: "speed", "aria-label": t.speed },
    ...t.speeds.map((name, i) => el("option", { value: String([700, 250, 60][i]), text: name, ...(i === 1 ? { selected: "" } : {}) })));
  // A scrolling region the keyboard can reach; its rows are a list a screen reader reads one by one.
  const diagram = el("div", { class: "diagram", tabindex: "0", role: "region", "aria-label": t.live });
  const table = el("table", { class: "sockets" });
  const view = new LiveView(diagram, table, t, sb);
  const bench = { lesson, status, runButton, stopButton, view, slots: [], language: startLanguage(lesson) };

  // The language tabs: Python (the tutorial's language), then JavaScript (sockbridge's own API).
  const tabs = el("div", { class: "languages", role: "tablist", "aria-label": t.language });
  const slotsBox = el("div", { class: "slots" });
  const tabFor = (language, text) => {
    const tab = el("button", { type: "button", role: "tab", "data-language": language, text });
    tab.addEventListener("click", () => {
      if (bench.language === language) return;
      stopAll(bench);
      bench.language = language;
      localStorage.setItem("sockbridge-code", language);
      build();
    });
    return tab;
  };
  const pythonTab = tabFor("python", "Python");
  if (!programs.length || !canRunPython()) pythonTab.disabled = true;
  tabs.append(pythonTab, tabFor("javascript", "JavaScript"));

  /** The editors and output panes of the chosen language: one per program. */
  function build() {
    for (const tab of tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.language === bench.language));
    const sources = bench.language === "python"
      ? programs.map((p) => ({ name: p.name, source: localized(p.python, lang), forever: p.forever, host: p.host }))
      : [{ name: "", source: localized(lesson.code, lang) }];
    bench.slots = sources.map(({ name, source, forever, host }) => {
      const key = `${lesson.id}:${PRIVATE ? "private" : "shared"}:${lang}:${bench.language}:${name}`;
      const slot = { name, key, forever: !!forever, program: null, state: "idle", host: PRIVATE ? host ?? null : null };
      slot.editor = makeEditor(t, name ? `${t.code}: ${name}` : t.code, (text) => edited.set(key, text), () => runAll(bench));
      slot.editor.set(edited.get(key) ?? source);
      if (sources.length > 1) slot.editor.editor.rows = source.split("\n").length + 1;
      slot.example = source;
      slot.output = el("pre", { class: "output", role: "log", "aria-live": "polite", "aria-label": name ? `${t.output}: ${name}` : t.output });
      slot.status = el("span", { class: "program-status" });
      const parts = [];
      if (sources.length > 1) {
        slot.runOne = el("button", { type: "button", class: "run-one", text: `▶ ${t.run}`, "aria-label": `${t.run} ${name}` });
        slot.stopOne = el("button", { type: "button", class: "stop-one", text: "■", "aria-label": `${t.stop} ${name}`, title: t.stopHint, disabled: "" });
        slot.runOne.addEventListener("click", () => runOne(bench, slot));
        slot.stopOne.addEventListener("click", () => stopOne(bench, slot));
        const where = slot.host ? [el("span", { class: "host", text: t.onHost(slot.host) })] : [];
        parts.push(el("div", { class: "program-head" }, el("b", { class: "mono", text: name }), ...where, slot.runOne, slot.stopOne, slot.status));
      }
      parts.push(slot.editor.wrap, el("h3", { text: name ? `${t.output}: ${name}` : t.output }), slot.output);
      slot.box = el("div", { class: "program", "data-name": name || "main", ...(forever ? { "data-forever": "" } : {}) }, ...parts);
      return slot;
    });
    slotsBox.replaceChildren(...bench.slots.map((slot) => slot.box));
    slotsBox.classList.toggle("two", bench.slots.length > 1);
    bench.note?.remove();
    bench.note = null;
    if (!canRunPython() && programs.length) {
      bench.note = el("p", { class: "note nojspi", text: t.noJspi });
      slotsBox.before(bench.note);
    }
    if (bench.language === "python") getPython().catch(() => {}); // a failure shows at Run
  }

  runButton.addEventListener("click", () => runAll(bench));
  stopButton.addEventListener("click", () => stopAll(bench));
  resetButton.addEventListener("click", () => {
    for (const slot of bench.slots) {
      slot.editor.set(slot.example);
      edited.delete(slot.key);
    }
  });
  shareButton.addEventListener("click", async () => {
    shareBox.value = shareLink(lesson, bench.language, bench.slots);
    shareBox.hidden = false;
    shareBox.select();
    await navigator.clipboard?.writeText(shareBox.value).catch(() => {});
  });
  replayButton.addEventListener("click", () => view.replay(Number(speed.value)));
  stepButton.addEventListener("click", () => view.stepOnce());

  const parts = [el("h1", { text: title }), el("div", { class: "explain", html: lesson.explain[lang] })];
  if (lesson.note) parts.push(el("div", { class: "note", html: lesson.note[lang] }));
  if (PRIVATE && lesson.hosts) {
    parts.push(el("p", { class: "note private", text: t.privateNote(lesson.hosts.join(", ")) }));
  }
  if (lesson.tutorial) {
    const load = el("button", { type: "button", class: "load-tutorial", text: t.tryTutorial });
    load.addEventListener("click", () => {
      if (bench.language !== "python") pythonTab.click();
      bench.slots[0].editor.set(lesson.tutorial);
      edited.set(bench.slots[0].key, lesson.tutorial);
      bench.slots[0].editor.editor.scrollIntoView({ block: "nearest" });
    });
    parts.push(el("details", { class: "tutorial", open: "" }, el("summary", { text: t.tutorial }),
      el("pre", { class: "tutorial", text: lesson.tutorial }), ...(canRunPython() ? [load] : [])));
  }
  const left = el("section", { class: "code" },
    el("h2", { text: t.code }), el("div", { class: "toolbar" }, tabs, runButton, stopButton, resetButton, shareButton, status),
    shareBox, slotsBox);
  const right = el("section", { class: "live" },
    el("div", { class: "live-head" }, el("h2", { text: t.live }), replayButton, stepButton, speed), diagram, el("h2", { text: t.sockets }), el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t.sockets }, table));
  parts.push(el("div", { class: "workbench" }, left, right));
  const exercise = EXERCISES[lesson.id];
  if (exercise) {
    bench.exercise = exercise;
    bench.verdict = el("p", { class: "verdict", "aria-live": "polite", text: t.exerciseTodo });
    parts.push(el("section", { class: "exercise" }, el("h2", { text: t.exercise }),
      el("p", { html: exercise.task[lang] }), bench.verdict));
  }
  if (lesson !== PLAYGROUND) {
    const nav = el("nav", { class: "prevnext" });
    nav.append(index > 0 ? el("a", { href: `#/lesson/${LESSONS[index - 1].id}`, text: t.prev }) : el("span"));
    nav.append(index < LESSONS.length - 1 ? el("a", { href: `#/lesson/${LESSONS[index + 1].id}`, text: t.next }) : el("a", { href: "#/playground", text: `${t.playground} →` }));
    parts.push(nav);
  }
  $("#main").replaceChildren(el("article", { class: "lesson", "data-lesson": lesson.id }, ...parts));
  document.title = `${title} · sockbridge`;
  // A shared link's code: in its language's editors, kept as the learner's own edits.
  const shared = takeSharedCode();
  if (shared && (shared.language === "javascript" || !pythonTab.disabled)) {
    bench.language = shared.language;
    build();
    for (const slot of bench.slots) {
      const text = shared.programs[slot.name];
      if (typeof text === "string") {
        slot.editor.set(text);
        edited.set(slot.key, text);
      }
    }
  } else {
    build();
  }
  current = bench;
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;

/**
 * Python in the page, loaded once (it is 13 MB): as soon as a lesson opens in Python, so that Run
 * is quick. `<html data-python="ready">` says it is loaded (the benchmark reads it).
 */
let python = null;
async function getPython(bridge = null) {
  python ??= import("./python.js").then(({ startPython }) => startPython(bridge)).then((py) => {
    document.documentElement.dataset.python = "ready";
    return py;
  });
  try {
    return await python;
  } catch (e) {
    python = null;
    throw e;
  }
}

const NAMES = Object.keys(sb).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== "default");

/**
 * The bridge's explanations (and the page's own) in the page's language, for a Chinese page: the
 * program's line stays as Python or JavaScript printed it, and the explanation follows it.
 */
const EXPLAIN_ZH = [
  [/the bridge's policy lets a page reach its own sockets and the lab services, not other programs on this computer/,
    "桥的策略只让页面连接它自己的 socket 和实验服务，不能连接这台电脑上的其他程序（守护进程的 --allow-connect 可以放行）。"],
  [/ports below 1024 are not bound through the bridge/, "通过桥不能绑定 1024 以下的端口：请用 0（由系统挑一个）或 1024–65535。"],
  [/the bridge binds loopback addresses only/, "桥只绑定本机的回环地址（127.0.0.0/8 或 ::1）；\"\" 和 \"0.0.0.0\" 表示 127.0.0.1。"],
  [/belongs to a service browsers never let pages reach/, "这个端口属于浏览器从不让网页连接的服务，只有明确写出这个端口的规则才能放行。"],
  [/cloud metadata services are never reachable/, "云服务器的元数据服务永远不能通过桥访问。"],
  [/the bridge does not send to broadcast addresses/, "桥不向广播地址发送数据。"],
  [/the bridge does not send to multicast addresses/, "桥不向组播地址发送数据。"],
  [/the page closed its socket on this port, and another program uses the port now/, "页面已经关闭了这个端口上的 socket，现在是这台电脑上别的程序在用这个端口。"],
  [/the bridge's policy does not allow this \S+ destination/, "桥的策略不允许连接这个目的地址（见守护进程的 --allow-connect）。"],
  [/the bridge's policy denies/, "桥的策略拒绝了这个地址（守护进程的 --deny 规则）。"],
  [/a socket may not connect to the bridge daemon itself/, "socket 不能连接桥接守护进程自己。"],
  [/sockets open for all pages together, its limit/, "桥为所有页面打开的 socket 已经到了上限。"],
  [/stopped \(the Stop button\)/, "程序被“停止”按钮中断了，相当于在终端里按 Ctrl-C。"],
  [/a web page's Python has no threads/, "网页里的 Python 没有线程（Pyodide 只在页面的一个线程上运行）：把这部分工作写成第二个程序，或者用 selectors。"],
  [/a web page's Python cannot fork/, "网页里的 Python 不能 fork（页面里没有进程）：把这部分工作写成第二个程序。"],
  [/asyncio's network calls do not go through sockbridge/, "asyncio 的网络调用不经过 sockbridge：请用阻塞的 socket、selectors 或 socketserver。"],
];

/** The lines an output pane keeps: a program printing without end must not swamp the page. */
const MAX_OUTPUT_LINES = 2000;

/** Writes a line to a program's output pane (`cls` "err" for its standard error). */
function write(slot, text, cls) {
  const out = slot.output;
  if (out.childNodes.length >= MAX_OUTPUT_LINES) {
    // Keep the newest lines, under a note that says earlier ones were dropped.
    let note = out.querySelector(".dropped");
    if (!note) {
      note = el("span", { class: "dropped" });
      out.prepend(note);
    }
    const dropped = Number(note.dataset.count ?? 0) + 1;
    note.dataset.count = String(dropped);
    note.textContent = `${UI[lang].dropped(dropped)}\n`;
    note.nextSibling?.remove();
  }
  out.append(cls ? el("span", { class: cls, text: `${text}\n` }) : `${text}\n`);
  const explained = lang === "zh" && EXPLAIN_ZH.find(([pattern]) => pattern.test(text));
  if (explained) slot.output.append(el("span", { class: "hint", lang: "zh-CN", text: `↳ ${explained[1]}\n` }));
}

/** Shows one program's state, and the lesson's: running while any runs, else how they ended. */
function setState(bench, slot, state) {
  const t = UI[lang];
  slot.state = state;
  const words = { idle: "", loading: t.loadingPython, running: t.running, waiting: t.waiting, done: t.done, error: t.failed, stopped: t.stopped };
  slot.status.textContent = words[state];
  slot.status.dataset.state = state;
  const active = bench.slots.some((s) => ["loading", "running", "waiting"].includes(s.state));
  if (slot.stopOne) slot.stopOne.disabled = !["running", "waiting"].includes(state);
  bench.stopButton.disabled = !active;
  bench.runButton.disabled = bench.slots.length === 1 && active;
  let overall = "idle";
  if (active) overall = bench.slots.some((s) => s.state === "loading") ? "loading" : "running";
  else if (bench.slots.some((s) => s.state === "error")) overall = "error";
  else if (bench.slots.some((s) => s.state === "stopped")) overall = "stopped";
  else if (bench.slots.some((s) => s.state === "done")) overall = "done";
  bench.status.textContent = words[overall];
  bench.status.dataset.state = overall;
  if (!active && overall !== "idle") checkExercise(bench);
  // JavaScript leaves its sockets to the session's end, which closes them. Python programs close
  // theirs as they end (as a process's exit does), and the session stays, so a client run again
  // after its server has stopped meets the kernel's answer (ECONNREFUSED) for the port it held.
  if (!active && bench.session && bench.language === "javascript") endSession(bench);
}

/** The session the lesson's programs share, made on first use (a page's programs are one computer's). */
async function session(bench) {
  if (!bench.session || bench.session.closed) {
    bench.view.reset();
    const bridge = await sb.Bridge.connect(undefined, { ontrace: (e) => bench.view.event(e) });
    if (bridge.hello.network?.mode === "private") {
      // The computers the lesson's programs run on, and what their links do.
      const have = new Set(bridge.hello.network.hosts.map((h) => h.name));
      for (const host of bench.lesson.hosts ?? []) {
        if (!have.has(host)) await bridge.addHost(host);
      }
      for (const [host, link] of Object.entries(bench.lesson.links ?? {})) await bridge.setLink(host, link);
      await bench.view.watch(bridge);
    }
    bench.session = bridge;
  }
  return bench.session;
}

/** Runs every program of the lesson: each starts once the one before waits (a server in accept). */
async function runAll(bench) {
  await stopAll(bench);
  for (const slot of bench.slots) {
    slot.output.replaceChildren();
    slot.editor.mark(null);
    setState(bench, slot, "idle");
  }
  for (const [i, slot] of bench.slots.entries()) {
    const started = await start(bench, slot);
    if (!started) break;
    if (i < bench.slots.length - 1) await Promise.race([started.waiting, started.done.catch(() => {})]);
  }
}

/** Runs one program again (a client, while its server keeps running). */
async function runOne(bench, slot) {
  const previous = slot.program;
  if (previous) {
    stopOne(bench, slot);
    await ended(previous);
    if (slot.program === previous) finish(bench, slot, previous, "stopped");
  }
  slot.output.replaceChildren();
  slot.editor.mark(null);
  await start(bench, slot);
}

/** The name the live view knows a slot's program by: its own where the lesson has several, "" where one. */
function viewName(bench, slot) {
  return bench.slots.length > 1 ? slot.name : "";
}

/** Starts a slot's program in the lesson's session; resolves to its Python `Program`, or null. */
async function start(bench, slot) {
  const t = UI[lang];
  const code = slot.editor.editor.value;
  bench.view.started(viewName(bench, slot));
  const run = {}; // until the program exists: Stop lets go of it (see stopAll)
  slot.program = run;
  const loading = bench.language === "python" && document.documentElement.dataset.python !== "ready";
  setState(bench, slot, loading ? "loading" : "running");
  let bridge;
  try {
    bridge = await session(bench);
    if (slot.program !== run) return null;
    if (bench.language === "python") {
      const py = await getPython(bridge);
      if (slot.program !== run) return null;
      // With several programs, the live view says which holds each socket.
      const onadopt = bench.slots.length > 1 ? (socket) => bench.view.own(socket.fileno(), slot.name) : null;
      const program = py.start(code, {
        bridge, name: slot.name, host: slot.host, onadopt, print: (line) => write(slot, line),
        printError: (line) => write(slot, line, "err"),
      });
      slot.program = program;
      setState(bench, slot, "running");
      program.waiting.then((why) => { if (slot.program === program && why !== "stopped") setState(bench, slot, "waiting"); });
      program.done.then(
        () => finish(bench, slot, program, "done"),
        (e) => {
          const stopped = program.stopped || e.type === "KeyboardInterrupt";
          if (!stopped) slot.editor.mark(e.line);
          if (!e.traceback) write(slot, e.message, "err");
          finish(bench, slot, program, stopped ? "stopped" : "error");
        });
      return program;
    }
    // JavaScript: `bridge`, `labs`, `print` and every export in scope. Stop ends its session.
    const print = (...values) => write(slot, printed(values, sb.Socket));
    const body = new AsyncFunction(...NAMES, "bridge", "labs", "print", code);
    const js = { stopped: false, stop() { this.stopped = true; bench.session?.close(); }, slot };
    slot.program = js;
    js.done = body(...NAMES.map((n) => sb[n]), bridge, bridge.hello.labs ?? {}, print);
    js.waiting = js.done;
    js.done.then(() => finish(bench, slot, js, "done"), (e) => {
      if (!js.stopped) write(slot, e instanceof Error && e.name ? `${e.name}: ${e.message}` : String(e), "err");
      finish(bench, slot, js, js.stopped ? "stopped" : "error");
    });
    return js;
  } catch (e) {
    if (slot.program !== run) return null;
    write(slot, e instanceof Error && e.name ? `${e.name}: ${e.message}` : String(e), "err");
    if (e?.name === "ConnectionError" && !bridge) write(slot, t.noDaemon, "err");
    slot.program = null;
    setState(bench, slot, "error");
    return null;
  }
}

function finish(bench, slot, program, state) {
  if (slot.program !== program) return;
  slot.program = null;
  setState(bench, slot, state);
}

/** Resolves when a stopped program has ended, or a second after (see stopOne). */
function ended(program) {
  return Promise.race([program.done?.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000))]);
}

/**
 * Stops a slot's program: Ctrl-C for Python, the session's end for JavaScript. A program that has
 * not ended a second later (it caught KeyboardInterrupt, and its next call never returns) is shown
 * as stopped all the same.
 */
function stopOne(bench, slot) {
  const program = slot.program;
  if (!program?.stop) return;
  bench.view.stopped(viewName(bench, slot));
  program.stop();
  setTimeout(() => finish(bench, slot, program, "stopped"), 1000);
}

/**
 * Checks the lesson's exercise against the run that just ended: what its programs printed and
 * the calls the diagram drew. A lesson whose server runs until stopped counts as ended when
 * stopped.
 */
function checkExercise(bench) {
  const { exercise, verdict } = bench;
  if (!exercise || !verdict) return;
  const t = UI[lang];
  const ended = bench.slots.every((s) => s.state === "done" || (s.forever && s.state === "stopped"));
  const lines = bench.slots.flatMap((s) => s.output.textContent.split("\n"));
  const calls = [...bench.view.rows.querySelectorAll(".step.call")].map((row) => row.dataset.text ?? "");
  const printed = (exercise.output ?? []).every((p) => lines.some((line) => new RegExp(p).test(line)));
  const called = (exercise.calls ?? []).every((c) => {
    const { re, atLeast = 1 } = typeof c === "string" ? { re: c } : c;
    return calls.filter((text) => new RegExp(re).test(text)).length >= atLeast;
  });
  const solved = ended && printed && called;
  verdict.textContent = solved ? t.solved : t.notYet + (ended ? exercise.hint[lang] : t.exerciseNeedsDone);
  verdict.dataset.solved = String(solved);
}

/** Stops every program of the lesson. */
async function stopAll(bench) {
  if (!bench) return;
  const running = bench.slots.map((slot) => slot.program).filter(Boolean);
  for (const slot of bench.slots) stopOne(bench, slot);
  // A program still starting (Python loading) never starts: its slot lets go of it.
  for (const slot of bench.slots) {
    if (slot.program && !slot.program.done) {
      slot.program = null;
      setState(bench, slot, "stopped");
    }
  }
  await Promise.all(running.map(ended));
  await endSession(bench);
}

/** Ends the lesson's session, once the live view has read its last packets (the last FINs). */
async function endSession(bench) {
  const ending = bench.session;
  bench.session = null;
  if (ending) await bench.view.finish().finally(() => ending.close());
}

function render() {
  renderNav();
  const lesson = route();
  if (lesson) renderLesson(lesson);
  else renderHome();
}

for (const button of document.querySelectorAll(".lang button")) {
  button.addEventListener("click", async () => {
    await stopAll(current);
    lang = button.dataset.lang;
    localStorage.setItem("sockbridge-lang", lang);
    render();
  });
}
// A promise a JavaScript program let go of that fails (a task it started and did not await):
// its error goes to the program's output, not only to the console.
window.addEventListener("unhandledrejection", (event) => {
  const slot = current?.slots.find((s) => s.program?.slot === s && !s.program.stopped);
  if (!slot) return;
  const e = event.reason;
  write(slot, `${UI[lang].background} ${e instanceof Error && e.name ? `${e.name}: ${e.message}` : String(e)}`, "err");
});

// The skip link moves the focus to the lesson without touching the address (its hash is the route).
$(".skip").addEventListener("click", (e) => {
  e.preventDefault();
  $("main").focus();
});
window.addEventListener("hashchange", async () => {
  // A link within the page may bring a token too (#/lesson/server&sb-token=…).
  sb.takePageToken();
  await stopAll(current);
  current = null;
  render();
  window.scrollTo(0, 0);
});
render();
window.sockbridgeLessons = { LESSONS, PLAYGROUND, UI, PRINTED_ZH, NETWORK, variant }; // for the page tests
