// Values as Python's print() shows them, so the lessons' output reads like the tutorial's:
// b'hello' for bytes, ('127.0.0.1', 8080) for addresses, None, True, <socket.socket fd=3 ...>.

const ESCAPES = { 9: "\\t", 10: "\\n", 13: "\\r", 39: "\\'", 92: "\\\\" };

/** Python's repr of bytes: b'...' with \n, \xNN and friends; b"..." when that saves escapes. */
export function bytesRepr(bytes) {
  const quote = bytes.includes(39) && !bytes.includes(34) ? '"' : "'";
  let out = "b" + quote;
  for (const b of bytes) {
    if (b === 39 && quote === '"') out += "'";
    else if (ESCAPES[b]) out += ESCAPES[b];
    else if (b >= 32 && b < 127) out += String.fromCharCode(b);
    else out += "\\x" + b.toString(16).padStart(2, "0");
  }
  return out + quote;
}

/** Python's repr of a str: '\r', '\t' and other control characters escaped, and the quote
 * Python picks ("it's" in double quotes). */
export function strRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ESCAPES[code] && code !== 39) out += ESCAPES[code];
    else if (code < 32 || code === 127) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + quote;
}

/**
 * Python returns tuples where the API returns arrays of a known shape: an address, accept()'s
 * (socket, address), recvfrom()'s (data, address), a getaddrinfo() entry, select()'s three lists.
 * Other arrays read as lists.
 */
function isTuple(value, Socket) {
  if (value.length >= 2 && typeof value[0] === "string" && typeof value[1] === "number") return true;
  if (value.length === 2 && ((Socket && value[0] instanceof Socket) || value[0] instanceof Uint8Array)) return true;
  if (value.length === 5 && typeof value[0] === "number" && typeof value[3] === "string") return true;
  return value.length === 3 && value.every(Array.isArray) && value.flat().every((s) => Socket && s instanceof Socket);
}

/** Python's repr() of a value from the socket API. */
export function repr(value, Socket) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(value);
  if (typeof value === "string") return strRepr(value);
  if (value instanceof Uint8Array) return bytesRepr(value);
  if (Socket && value instanceof Socket) {
    return `<socket.socket fd=${value.fileno()}, family=${value.family}, type=${value.type}, proto=${value.proto}>`;
  }
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (Array.isArray(value)) {
    const items = value.map((v) => repr(v, Socket));
    if (isTuple(value, Socket)) return "(" + items.join(", ") + (items.length === 1 ? ",)" : ")");
    return "[" + items.join(", ") + "]";
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** What print(*values) writes: strings as they are, everything else as repr. */
export function printed(values, Socket) {
  return values.map((v) => (typeof v === "string" ? v : repr(v, Socket))).join(" ");
}
