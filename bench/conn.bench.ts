/**
 * The per-message and per-chunk path of a `Connection` against raw Node
 * doing the same work, in one process, over an in-memory socket (a `Duplex`
 * whose writes complete at once): what fiberloop adds per read and per send,
 * without syscalls or the event loop in the measure.
 *
 * Chunks arrive one per turn of the event loop (16 lines, or 64 KiB), so the
 * handler reads what is buffered, then waits for the next chunk, as on a
 * real socket.
 *
 * - line reads: `receive()` of each line, against splitting the chunk with
 *   `indexOf` in a `'data'` listener.
 * - pipelined request/reply: `receive()` then `send(reply)` per line, 16
 *   lines per received chunk, against a `'data'` listener that corks, writes
 *   one reply per line and uncorks (what raw Node needs for one write per
 *   chunk; fiberloop batches the replies by itself).
 * - 64 KiB relay: `send(yield* receivePartial())` against `write(chunk)`.
 *
 * The cost is CPU time per operation (`process.cpuUsage`), the best of a
 * few runs per round: it is less sensitive than wall time to other
 * processes, but on a shared machine it is still indicative only.
 *
 * Run with `npm run bench -- conn` (BENCH_ROUNDS overrides the round count).
 */
import * as Effect from "effect/Effect"
import { Duplex } from "node:stream"
import * as Connection from "../src/net/Connection.ts"
import { compare } from "./harness.ts"

const OPS = 32_768 // a multiple of 16
const TRIES = 3

/** A socket stand-in: reads are fed with `emit("data")`, writes complete at once. */
const memorySocket = () =>
  new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback()
    },
    writev(_chunks, callback) {
      callback()
    }
  })

const request = "GET key:000000001\n"
const pipelined = Buffer.from(request.repeat(16))
const reply = "$5\r\nvalue\r\n"
const block = Buffer.alloc(65536, 1)

/** CPU nanoseconds per operation of `run(ops)`, the best of `TRIES` runs. */
const cpuPerOp = async (run: (ops: number) => Promise<void> | void): Promise<number> => {
  let best = Infinity
  for (let i = 0; i < TRIES; i++) {
    const start = process.cpuUsage()
    await run(OPS)
    const used = process.cpuUsage(start)
    best = Math.min(best, ((used.user + used.system) * 1000) / OPS)
  }
  return best
}

/**
 * The peer: emits `chunk` on the socket once per turn of the event loop,
 * `count` times, as data arriving from the network would (so a reader that
 * has read everything waits, and its batched replies go out).
 */
const arrive = (socket: Duplex, chunk: Buffer, count: number) =>
  new Promise<void>((resolve) => {
    let left = count
    const next = () => {
      if (left-- === 0) return resolve()
      socket.emit("data", chunk)
      setImmediate(next)
    }
    setImmediate(next)
  })

const readLines = Effect.fnUntraced(function*(conn: Connection.Connection, ops: number) {
  for (let i = 0; i < ops; i++) yield* conn.receive()
})

const answer = Effect.fnUntraced(function*(conn: Connection.Connection, ops: number) {
  for (let i = 0; i < ops; i++) {
    yield* conn.receive()
    yield* conn.send(reply)
  }
})

const relay = Effect.fnUntraced(function*(conn: Connection.Connection, ops: number) {
  for (let i = 0; i < ops; i++) yield* conn.send(yield* conn.receivePartial())
})

/** A handler serving `ops` operations from chunks of `perChunk` that arrive one per turn. */
const fiberloop = (
  chunk: Buffer,
  perChunk: number,
  handler: (conn: Connection.Connection, ops: number) => Effect.Effect<void, unknown>
) =>
() =>
  cpuPerOp(async (ops) => {
    const socket = memorySocket()
    const done = Effect.runPromise(handler(Connection.makeUnsafe(socket as never), ops))
    await arrive(socket, chunk, ops / perChunk)
    await done
  })

/** Raw Node: a `'data'` listener doing the same work, fed the same chunks. */
const raw = (chunk: Buffer, perChunk: number, onData: (socket: Duplex, chunk: Buffer) => void) => () =>
  cpuPerOp((ops) => {
    const socket = memorySocket()
    socket.on("data", (data: Buffer) => onData(socket, data))
    return arrive(socket, chunk, ops / perChunk)
  })

const splitLines = (chunk: Buffer, each: (line: string) => void) => {
  for (let from = 0, end = chunk.indexOf(10); end >= 0; from = end + 1, end = chunk.indexOf(10, from)) {
    each(chunk.subarray(from, end).toString("utf8"))
  }
}

await compare("conn: the per-message path", "raw node (same work in a 'data' listener)", [
  {
    name: "line read, 16 per chunk",
    unit: "ns CPU/read",
    higherIsBetter: false,
    target: 2,
    subject: fiberloop(pipelined, 16, readLines),
    baseline: raw(pipelined, 16, (_socket, chunk) => splitLines(chunk, () => {}))
  },
  {
    name: "pipelined request/reply, 16 per chunk",
    unit: "ns CPU/request",
    higherIsBetter: false,
    target: 2,
    subject: fiberloop(pipelined, 16, answer),
    baseline: raw(pipelined, 16, (socket, chunk) => {
      socket.cork()
      splitLines(chunk, () => socket.write(reply))
      socket.uncork()
    })
  },
  {
    name: "64 KiB chunk relay",
    unit: "ns CPU/chunk",
    higherIsBetter: false,
    target: 2,
    subject: fiberloop(block, 1, relay),
    baseline: raw(block, 1, (socket, chunk) => socket.write(chunk))
  }
])
