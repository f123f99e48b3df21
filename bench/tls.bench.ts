/**
 * fiberloop TLS echo (`Tcp.serve({ tls })`) vs a raw `node:tls` echo server,
 * A/B interleaved. Each measurement starts a fresh server process
 * (bench/tls-server.ts) with a core to itself; the load comes from raw
 * `node:tls` clients in this process, the same for both. The certificate (EC
 * P-256, signed by a throwaway CA, verified by the clients) is made with the
 * `openssl` CLI into a temporary directory removed at exit. Loopback only.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeTls from "node:tls"
import { compare } from "./harness.ts"
import { pingpong as pingpongLoad } from "./load.ts"
import { withServer as withServerProcess } from "./server-process.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const WARMUP_MILLIS = 300
const serverScript = new URL("./tls-server.ts", import.meta.url).pathname

// =============================================================================
// Certificates
// =============================================================================

const dir = mkdtempSync(join(tmpdir(), "fiberloop-tls-bench-"))
process.on("exit", () => rmSync(dir, { recursive: true, force: true }))
const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
const openssl = (args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" })
openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=bench CA"])
openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
writeFileSync(join(dir, "server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
openssl([
  "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "1", "-days", "1",
  "-extfile", "server.ext", "-out", "server.crt"
])
const keyFile = join(dir, "server.key")
const certFile = join(dir, "server.crt")
/** One client context for every load connection: the CA is parsed once. */
const clientContext = NodeTls.createSecureContext({ ca: readFileSync(join(dir, "ca.crt")) })

// =============================================================================
// Servers and clients
// =============================================================================

type Kind = "fiberloop" | "raw"

const withServer = <A>(kind: Kind, body: (port: number) => Promise<A>): Promise<A> =>
  withServerProcess(serverScript, [kind, keyFile, certFile], ({ port }) => body(port))

const connectTo = (port: number): Promise<NodeTls.TLSSocket> =>
  new Promise((resolve, reject) => {
    const socket = NodeTls.connect({ host: "127.0.0.1", port, secureContext: clientContext })
    socket.setNoDelay(true)
    socket.once("secureConnect", () => resolve(socket))
    socket.once("error", reject)
  })

/** 16 loops of connect, handshake, one-byte echo, close; handshakes/s. */
const handshakes = (kind: Kind) =>
  withServer(kind, async (port) => {
    const run = async (millis: number) => {
      let count = 0
      const deadline = performance.now() + millis
      const start = performance.now()
      const loop = async () => {
        while (performance.now() < deadline) {
          const socket = await connectTo(port)
          await new Promise<void>((done) => {
            socket.once("data", () => socket.end())
            socket.once("close", () => done())
            socket.on("error", () => {})
            socket.write("x")
          })
          count++
        }
      }
      await Promise.all(Array.from({ length: 16 }, loop))
      return count / ((performance.now() - start) / 1000)
    }
    await run(WARMUP_MILLIS)
    return run(SECONDS * 1000)
  })

/** 64 TLS connections, each sending 64 bytes and waiting for them back; round trips/s. */
/** 64 connections, each keeping one 64-byte message in flight; round trips/s. */
const pingpong = (kind: Kind) =>
  withServer(kind, async (port) => {
    const sockets = await Promise.all(Array.from({ length: 64 }, () => connectTo(port)))
    await pingpongLoad(sockets, WARMUP_MILLIS)
    const rate = await pingpongLoad(sockets, SECONDS * 1000)
    for (const socket of sockets) socket.destroy()
    return rate
  })

await compare("TLS echo", "raw node:tls", [
  {
    name: "TLS handshakes/s (16 loops: connect, handshake, 1 B echo, close)",
    unit: "/s",
    higherIsBetter: true,
    target: 0.85,
    subject: () => handshakes("fiberloop"),
    baseline: () => handshakes("raw")
  },
  {
    name: "TLS pingpong round trips/s (64 conns, 64 B)",
    unit: "/s",
    higherIsBetter: true,
    target: 0.85,
    subject: () => pingpong("fiberloop"),
    baseline: () => pingpong("raw")
  }
], { rounds: Number(process.env.BENCH_ROUNDS ?? 3), warmup: false })
