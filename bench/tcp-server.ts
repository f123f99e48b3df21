/**
 * The server side of bench/tcp.bench.ts (protocol in bench/server-process.ts):
 * `node bench/tcp-server.ts fiberloop|raw` serves an echo on 127.0.0.1.
 */
import * as Net from "node:net"
import { serveFiberloopEcho, serveRawEcho } from "./echo-server.ts"

if (process.argv[2] === "raw") serveRawEcho(Net.createServer({ noDelay: true }), "connection")
else serveFiberloopEcho()
