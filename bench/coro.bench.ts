/**
 * The coroutine facade's echo server (an async function per client, Copas
 * style) against the same server as a `Tcp.serve` Effect handler, and against
 * raw `node:net`, A/B interleaved. Each measurement starts a fresh server
 * process (this file with `serve <kind>`); the load comes from raw `node:net`
 * clients in this process, the same for every kind. Every server echoes
 * 64-byte units.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Net from "node:net"
import { copas } from "../src/coro/copas.ts"
import type { TcpSocket } from "../src/coro/Socket.ts"
import type * as Connection from "../src/net/Connection.ts"
import * as Tcp from "../src/net/Tcp.ts"
import { serveRawEcho } from "./echo-server.ts"
import { compare } from "./harness.ts"
import { connectCloseSample, pingpongSample } from "./load.ts"
import { announce, type ServerProcess, withServer as withServerProcess } from "./server-process.ts"

type Kind = "coro" | "effect" | "raw"

// =============================================================================
// Servers (run in their own process)
// =============================================================================

const serveCoro = async (): Promise<void> => {
  const echo = async (skt: TcpSocket) => {
    for (;;) await skt.send(await skt.receive(64))
  }
  const server = await copas.addserver({ host: "127.0.0.1", port: 0, backlog: 4096 }, echo)
  announce(server.address.port, () => server.server.stats().active)
  await copas.loop()
}

const serveEffect = (): void => {
  const echo = Effect.fnUntraced(function*(conn: Connection.Connection) {
    for (;;) yield* conn.send(yield* conn.receive(64))
  })
  const program = Effect.gen(function*() {
    const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, backlog: 4096, handler: echo })
    announce(server.address.port, () => server.stats().active)
    return yield* Effect.never
  })
  Effect.runFork(program.pipe(Effect.scoped, Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({}))))))
}

if (process.argv[2] === "serve") {
  const kind = process.argv[3] as Kind
  if (kind === "raw") serveRawEcho(Net.createServer({ noDelay: true }), "connection")
  else if (kind === "effect") serveEffect()
  else await serveCoro()
} else {
  await main()
}

// =============================================================================
// Load (this process)
// =============================================================================

async function main(): Promise<void> {
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
  const script = new URL(import.meta.url).pathname

  const withServer = <A>(kind: Kind, body: (server: ServerProcess) => Promise<A>): Promise<A> =>
    withServerProcess(script, ["serve", kind], body)

  /** 64 connections, each keeping one 64-byte message in flight; also the server's CPU per round trip. */
  const pingpong = (kind: Kind) => withServer(kind, (server) => pingpongSample(server, SECONDS))

  /** 16 loops of connect, one 64-byte exchange, close; connections/s and the server's CPU per connection. */
  const connectClose = (kind: Kind) => withServer(kind, (server) => connectCloseSample(server, SECONDS, 64))

  const cases = (baseline: Kind, rateTarget: number, cpuTarget: number) => [
    {
      name: "pingpong round trips/s (64 conns, 64 B)",
      unit: "/s",
      higherIsBetter: true,
      target: rateTarget,
      subject: () => pingpong("coro"),
      baseline: () => pingpong(baseline),
      side: [{ key: "cpu", name: "server CPU per round trip", unit: "µs", higherIsBetter: false, target: cpuTarget }]
    },
    {
      name: "connect+exchange+close/s (16 loops)",
      unit: "/s",
      higherIsBetter: true,
      target: rateTarget,
      subject: () => connectClose("coro"),
      baseline: () => connectClose(baseline),
      side: [{ key: "cpu", name: "server CPU per connection", unit: "µs", higherIsBetter: false, target: cpuTarget }]
    }
  ]

  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  // the target: the facade at >= 0.9x the Effect handler (CPU: its inverse)
  await compare("Coroutine facade echo", "Tcp.serve Effect handler", cases("effect", 0.9, 1.11), { rounds })
  // for reference: the facade against raw node:net
  await compare("Coroutine facade echo", "raw node:net", cases("raw", 0.7, 1.43), { rounds })
}
