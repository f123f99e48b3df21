/**
 * fiberloop echo vs raw `node:net` echo, A/B interleaved. Each measurement
 * starts a fresh server process (bench/tcp-server.ts) so it has a core and a
 * heap to itself; the load comes from raw `node:net` clients in this process,
 * the same for both.
 */
import * as Net from "node:net"
import { compare } from "./harness.ts"
import { pingpong as pingpongLoad } from "./load.ts"
import { type ServerProcess, withServer as withServerProcess } from "./server-process.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const serverScript = new URL("./tcp-server.ts", import.meta.url).pathname

const withServer = <A>(kind: "fiberloop" | "raw", body: (server: ServerProcess) => Promise<A>): Promise<A> =>
  withServerProcess(serverScript, [kind], body)

const connectTo = (port: number): Promise<Net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port, noDelay: true })
    socket.once("connect", () => resolve(socket))
    socket.once("error", reject)
  })

/** 64 connections, each keeping one 64-byte message in flight; also the server's CPU per round trip. */
const pingpong = (kind: "fiberloop" | "raw") =>
  withServer(kind, async ({ port, stats }) => {
    const sockets = await Promise.all(Array.from({ length: 64 }, () => connectTo(port)))
    await pingpongLoad(sockets, 300)
    const cpuBefore = (await stats()).cpuMicros
    const start = performance.now()
    const rate = await pingpongLoad(sockets, SECONDS * 1000)
    const trips = rate * ((performance.now() - start) / 1000)
    const cpu = ((await stats()).cpuMicros - cpuBefore) / trips
    for (const s of sockets) s.destroy()
    return { value: rate, side: { cpu } }
  })

/** One connection streaming 64 KiB writes; MB/s echoed back. */
const stream = (kind: "fiberloop" | "raw") =>
  withServer(kind, async ({ port }) => {
    const socket = await connectTo(port)
    const block = Buffer.alloc(65536, 97)
    let received = 0
    let running = true
    const start = performance.now()
    socket.on("data", (chunk) => (received += chunk.length))
    const pump = () => {
      while (running && socket.write(block));
    }
    socket.on("drain", pump)
    pump()
    await new Promise((r) => setTimeout(r, SECONDS * 1000))
    running = false
    const rate = received / 1e6 / ((performance.now() - start) / 1000)
    socket.destroy()
    return rate
  })

/** 16 loops of connect, exchange one byte, close; connections/s, and the server's CPU per connection. */
const connectClose = (kind: "fiberloop" | "raw") =>
  withServer(kind, async ({ port, stats }) => {
    let count = 0
    const cpuBefore = (await stats()).cpuMicros
    const deadline = performance.now() + SECONDS * 1000
    const start = performance.now()
    const loop = async () => {
      while (performance.now() < deadline) {
        const socket = await connectTo(port)
        await new Promise<void>((done) => {
          socket.once("data", () => socket.end())
          socket.once("close", () => done())
          socket.write("x")
        })
        count++
      }
    }
    await Promise.all(Array.from({ length: 16 }, loop))
    const rate = count / ((performance.now() - start) / 1000)
    return { value: rate, side: { cpu: ((await stats()).cpuMicros - cpuBefore) / count } }
  })

/** Server RSS per idle connection, with 10,000 held open. */
const memory = (kind: "fiberloop" | "raw") =>
  withServer(kind, async (server) => {
    const HELD = Number(process.env.BENCH_HELD ?? 10000)
    const before = await server.stats()
    const sockets: Array<Net.Socket> = []
    for (let i = 0; i < HELD; i += 200) {
      sockets.push(...await Promise.all(Array.from({ length: Math.min(200, HELD - i) }, () => connectTo(server.port))))
    }
    let after = await server.stats()
    for (let tries = 0; after.open < HELD && tries < 100; tries++) {
      await new Promise((r) => setTimeout(r, 20))
      after = await server.stats()
    }
    for (const s of sockets) s.destroy()
    if (after.open < HELD) throw new Error(`server holds ${after.open} of ${HELD} connections`)
    return (after.rss - before.rss) / HELD / 1024
  })

// CPU targets are the rate targets' inverses: a server that spends 1/0.9 of raw's CPU per operation
// serves 0.9 of raw's rate once it, not the load generator, is the limit.
await compare("TCP echo", "raw node:net", [
  {
    name: "pingpong round trips/s (64 conns, 64 B)",
    unit: "/s",
    higherIsBetter: true,
    target: 0.9,
    subject: () => pingpong("fiberloop"),
    baseline: () => pingpong("raw"),
    side: [{ key: "cpu", name: "server CPU per round trip", unit: "µs", higherIsBetter: false, target: 1.11 }]
  },
  {
    name: "stream MB/s (64 KiB writes)",
    unit: "MB/s",
    higherIsBetter: true,
    target: 0.9,
    subject: () => stream("fiberloop"),
    baseline: () => stream("raw")
  },
  {
    name: "connect+close/s (16 loops)",
    unit: "/s",
    higherIsBetter: true,
    target: 0.85,
    subject: () => connectClose("fiberloop"),
    baseline: () => connectClose("raw"),
    side: [{ key: "cpu", name: "server CPU per connection", unit: "µs", higherIsBetter: false, target: 1.18 }]
  },
  {
    name: "server RSS per idle connection (10,000 held)",
    unit: "KiB",
    higherIsBetter: false,
    target: 1.5,
    subject: () => memory("fiberloop"),
    baseline: () => memory("raw")
  }
], { rounds: Number(process.env.BENCH_ROUNDS ?? 7), warmup: false })
