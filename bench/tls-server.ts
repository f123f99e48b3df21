/**
 * The server side of bench/tls.bench.ts (protocol in bench/server-process.ts):
 * `node bench/tls-server.ts fiberloop|raw <key> <cert>` serves a TLS echo on
 * 127.0.0.1 (fiberloop: `Tcp.serve({ tls })`; raw: a `tls.createServer` echo).
 */
import { readFileSync } from "node:fs"
import * as NodeTls from "node:tls"
import { serveFiberloopEcho, serveRawEcho } from "./echo-server.ts"

const [kind, keyFile, certFile] = process.argv.slice(2) as [string, string, string]

if (kind === "raw") {
  const server = NodeTls.createServer({
    key: readFileSync(keyFile),
    cert: readFileSync(certFile),
    minVersion: "TLSv1.2",
    noDelay: true
  })
  server.on("tlsClientError", () => {})
  serveRawEcho(server, "secureConnection")
} else {
  serveFiberloopEcho({ key: { file: keyFile }, cert: { file: certFile } })
}
