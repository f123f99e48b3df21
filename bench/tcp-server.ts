/**
 * The server side of bench/tcp.bench.ts (protocol in bench/server-process.ts):
 * `node bench/tcp-server.ts fiberloop|fiberloop-inline|fiberloop-deferred|raw|raw-flow` serves an
 * echo on 127.0.0.1: `fiberloop` with the handler in the documented hoisted
 * form, `fiberloop-inline` with the same loop as an inline
 * `(conn) => Effect.gen(...)`, `raw-flow` a raw echo that stops reading while
 * its writes are queued past the high water mark (as fiberloop's `send`),
 * `fiberloop-deferred` the hoisted echo with `deferAccept` (a connection gets
 * its fiber at its first bytes).
 */
import * as Net from "node:net"
import { serveFiberloopEcho, serveRawEcho } from "./echo-server.ts"

const kind = process.argv[2]
if (kind === "raw" || kind === "raw-flow") serveRawEcho(Net.createServer({ noDelay: true }), "connection", kind === "raw-flow")
else {
  serveFiberloopEcho(
    undefined,
    kind === "fiberloop-inline" ? "inline" : "hoisted",
    kind === "fiberloop-deferred" ? "60 seconds" : undefined
  )
}
