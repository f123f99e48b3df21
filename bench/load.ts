/**
 * Load generators shared by the stream-socket benchmarks (TCP and TLS): raw
 * Node clients, the same for fiberloop and its baseline.
 */
import * as Net from "node:net"
import type { Sample } from "./harness.ts"
import type { ServerProcess } from "./server-process.ts"

/**
 * Keeps one 64-byte message in flight on every socket (send, wait for the
 * echo, send again) for `millis`; returns round trips per second.
 *
 * ```ts
 * const rate = await pingpong(sockets, 2000)
 * ```
 */
export const pingpong = (sockets: ReadonlyArray<Net.Socket>, millis: number): Promise<number> =>
  new Promise((resolve) => {
    const message = Buffer.alloc(64, 120)
    let trips = 0
    let running = true
    let pending = sockets.length
    const start = performance.now()
    for (const socket of sockets) {
      let got = 0
      socket.removeAllListeners("data")
      socket.on("data", (chunk: Buffer) => {
        got += chunk.length
        if (got < 64) return
        got -= 64
        trips++
        if (running) socket.write(message)
        else if (--pending === 0) resolve(trips / ((performance.now() - start) / 1000))
      })
      socket.write(message)
    }
    setTimeout(() => (running = false), millis)
  })

/**
 * A plain TCP client on 127.0.0.1 with Nagle's algorithm off.
 *
 * ```ts
 * const socket = await connectTo(port)
 * ```
 */
export const connectTo = (port: number): Promise<Net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port, noDelay: true })
    socket.once("connect", () => resolve(socket))
    socket.once("error", reject)
  })

/**
 * A connection to `port` on 127.0.0.1 that has sent one byte and had it
 * echoed: a conversation under way, idle between messages.
 *
 * ```ts
 * const socket = await connectSpoken(server.port)
 * ```
 */
export const connectSpoken = async (port: number): Promise<Net.Socket> => {
  const socket = await connectTo(port)
  await new Promise<void>((done) => {
    socket.once("data", () => done())
    socket.write("x")
  })
  return socket
}

/**
 * 64 connections to a server process, each keeping one 64-byte message in
 * flight for `seconds` (after a 300 ms warmup): round trips/s, and the
 * server's CPU per round trip as side quantity `cpu`.
 *
 * ```ts
 * const sample = await withServer(script, ["raw"], (server) => pingpongSample(server, 2))
 * ```
 */
export const pingpongSample = async ({ port, stats }: ServerProcess, seconds: number): Promise<Sample> => {
  const sockets = await Promise.all(Array.from({ length: 64 }, () => connectTo(port)))
  await pingpong(sockets, 300)
  const cpuBefore = (await stats()).cpuMicros
  const start = performance.now()
  const rate = await pingpong(sockets, seconds * 1000)
  const trips = rate * ((performance.now() - start) / 1000)
  const cpu = ((await stats()).cpuMicros - cpuBefore) / trips
  for (const s of sockets) s.destroy()
  return { value: rate, side: { cpu } }
}

/**
 * 16 loops of connect, send `bytes` bytes, wait for their echo, close, for
 * `seconds`: connections/s, and the server's CPU per connection as side
 * quantity `cpu`.
 *
 * ```ts
 * const sample = await withServer(script, ["raw"], (server) => connectCloseSample(server, 2, 1))
 * ```
 */
export const connectCloseSample = async (
  { port, stats }: ServerProcess,
  seconds: number,
  bytes: number
): Promise<Sample> => {
  const message = Buffer.alloc(bytes, 120)
  let count = 0
  const cpuBefore = (await stats()).cpuMicros
  const deadline = performance.now() + seconds * 1000
  const start = performance.now()
  const loop = async () => {
    while (performance.now() < deadline) {
      const socket = await connectTo(port)
      await new Promise<void>((done) => {
        let got = 0
        socket.on("data", (chunk: Buffer) => {
          got += chunk.length
          if (got >= bytes) socket.end()
        })
        socket.once("close", () => done())
        socket.write(message)
      })
      count++
    }
  }
  await Promise.all(Array.from({ length: 16 }, loop))
  const rate = count / ((performance.now() - start) / 1000)
  return { value: rate, side: { cpu: ((await stats()).cpuMicros - cpuBefore) / count } }
}
