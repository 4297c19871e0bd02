// Mistakes the package's types must catch (tests/browser/types.test.mjs expects each error here).
import { initSync } from "../../../../web-demo/pkg/sockbridge.js"; // TS2305: the loader is not the API
import { Bridge, AF_INET } from "../../../../web-demo/pkg/sockbridge.js";

const bridge = await Bridge.connect();
const s = await bridge.socket(AF_INET);
await s.recv(); // TS2554: recv needs its bufsize
await s.bind(8080); // TS2345: an address is a tuple or a name
const echo = bridge.hello.labs.echo_tcp; // TS18048: labs may be absent
await bridge.setLink("pc2", { loss: "high" }); // TS2322: a loss is a number from 0 to 1
console.log(initSync, echo);
