/**
 * UDP pingpong: datagrams/s through an echo server on loopback, fiberloop
 * against raw `node:dgram`, in one process.
 *
 * The clients are raw `node:dgram` for both, so only the server differs: 64
 * client sockets each keep one 64-byte datagram in flight (send, wait for the
 * echo, send again) for a fixed time. A datagram lost on the way is re-sent
 * after 100 ms and counted, so a round never hangs. Two fiberloop servers are
 * measured: `Udp.serve` (a fiber per datagram) and a plain
 * `receiveFrom`/`sendTo` loop on one socket.
 *
 * Run with `npm run bench -- udp` (`BENCH_ROUNDS`, `BENCH_MILLIS` to tune).
 */
import * as NodeDns from "@effect/platform-node/NodeDns"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Dgram from "node:dgram"
import { Udp } from "../src/net/index.ts"
import { compare } from "./harness.ts"

const clients = 64
const size = 64
const millis = Number(process.env.BENCH_MILLIS ?? 800)
const rounds = Number(process.env.BENCH_ROUNDS ?? 11)
const resendAfter = 100

let lost = 0

/** Runs the clients against `port` for `millis` and returns round trips per second. */
const pingpong = (port: number): Promise<number> =>
  new Promise((resolve) => {
    const payload = Buffer.alloc(size, 0x61)
    const sockets: Array<Dgram.Socket> = []
    const timers: Array<NodeJS.Timeout | undefined> = []
    let trips = 0
    let bound = 0
    let running = true
    let start = 0
    const sendFrom = (i: number) => {
      const socket = sockets[i]!
      socket.send(payload, port, "127.0.0.1")
      clearTimeout(timers[i])
      timers[i] = setTimeout(() => {
        if (!running) return
        lost++
        sendFrom(i)
      }, resendAfter)
    }
    const finish = () => {
      running = false
      const elapsed = performance.now() - start
      for (let i = 0; i < clients; i++) {
        clearTimeout(timers[i])
        sockets[i]!.close()
      }
      resolve((trips * 1000) / elapsed)
    }
    for (let i = 0; i < clients; i++) {
      const socket = Dgram.createSocket("udp4")
      sockets.push(socket)
      timers.push(undefined)
      socket.on("message", () => {
        if (!running) return
        trips++
        sendFrom(i)
      })
      socket.bind(0, "127.0.0.1", () => {
        if (++bound < clients) return
        start = performance.now()
        for (let j = 0; j < clients; j++) sendFrom(j)
        setTimeout(finish, millis)
      })
    }
  })

// =============================================================================
// Servers
// =============================================================================

const rawServer = (): Promise<{ readonly port: number; readonly close: () => Promise<void> }> =>
  new Promise((resolve) => {
    const socket = Dgram.createSocket("udp4")
    socket.on("message", (data, info) => socket.send(data, info.port, info.address))
    socket.bind(0, "127.0.0.1", () =>
      resolve({
        port: socket.address().port,
        close: () => new Promise((done) => socket.close(() => done()))
      }))
  })

const UdpLive = Udp.layer.pipe(Layer.provide(NodeDns.layer))

/** Runs a scoped fiberloop server until closed. */
const effectServer = async (
  start: Effect.Effect<number, unknown, Scope.Scope | Udp.Udp>
): Promise<{ readonly port: number; readonly close: () => Promise<void> }> => {
  let onPort: (port: number) => void = () => {}
  const port = new Promise<number>((resolve) => {
    onPort = resolve
  })
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      onPort(yield* start)
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provide(UdpLive))
  )
  return { port: await port, close: () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => {}) }
}

const serveServer = () =>
  effectServer(Effect.map(
    Udp.serve({ host: "127.0.0.1", port: 0, handler: ({ data, reply }) => reply(data) }),
    (server) => server.address.port
  ))

const loopServer = () =>
  effectServer(Effect.gen(function*() {
    const socket = yield* Udp.bind({ host: "127.0.0.1", port: 0 })
    // every iteration suspends on I/O (the send callback), so the per-iteration yield is not needed
    yield* Effect.forkScoped(Effect.forever(
      Effect.flatMap(socket.receiveFrom(), (d) => socket.sendTo(d.data, d.address, d.port)),
      { disableYield: true }
    ))
    return socket.localAddress.port
  }))

/** Every measurement of a case, in the order the harness takes them. */
const samples = new Map<string, { readonly subject: Array<number>; readonly baseline: Array<number> }>()

const measure = async (
  name: string,
  side: "subject" | "baseline",
  server: () => Promise<{ readonly port: number; readonly close: () => Promise<void> }>
): Promise<number> => {
  const s = await server()
  try {
    const rate = await pingpong(s.port)
    samples.get(name)![side].push(rate)
    return rate
  } finally {
    await s.close()
  }
}

const pingpongCase = (
  name: string,
  subject: () => Promise<{ readonly port: number; readonly close: () => Promise<void> }>
) => {
  samples.set(name, { subject: [], baseline: [] })
  return {
    name,
    unit: "dgram/s",
    higherIsBetter: true,
    target: 0.9,
    subject: () => measure(name, "subject", subject),
    baseline: () => measure(name, "baseline", rawServer)
  }
}

await compare("udp", "raw node:dgram", [
  pingpongCase(`pingpong Udp.serve (${clients} in flight, ${size} B)`, serveServer),
  pingpongCase(`pingpong receiveFrom/sendTo loop (${clients} in flight, ${size} B)`, loopServer)
], { rounds })

// The harness compares medians; a busy machine moves both sides of one round
// together, so the median of per-round ratios is printed too.
console.log("")
for (const [name, { baseline, subject }] of samples) {
  // the first pair is the warm-up
  const ratios = subject.slice(1).map((s, i) => s / baseline[i + 1]!).sort((a, b) => a - b)
  console.log(`${name}: median of per-round ratios ${ratios[ratios.length >> 1]!.toFixed(2)}x`)
}
console.log(`(${lost} datagrams re-sent after ${resendAfter} ms without an echo, over all rounds)`)
