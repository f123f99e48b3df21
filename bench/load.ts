/**
 * Load generators shared by the stream-socket benchmarks (TCP and TLS): raw
 * Node clients, the same for fiberloop and its baseline.
 */
import type * as Net from "node:net"

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
