/**
 * One measurement of one Effect build, printed as one JSON line. Run by
 * bench/upstream/run.ts inside a temporary copy of the repository whose
 * `node_modules/effect` is (patched or not) Effect 4.1.0, as
 * `node --expose-gc measure.ts MODE`:
 *
 * - `heap`: 10,000 fibers forked and left suspended in one hoisted
 *   `Effect.callback` that returns a cancel effect (the shape of fiberloop's
 *   read wait), one observer each (as a server adds); V8 heap bytes per fiber.
 * - `tcp`: a fiberloop `Tcp.serve` echo server (the documented hoisted
 *   handler) holding 9,000 idle loopback connections (2 fds each under a
 *   20,000 fd limit) from raw `node:net` clients in the same process; heap
 *   bytes per connection (both ends), over the last 8,800 (after a warm-up).
 * - `alloc`: bytes allocated per suspend/resume cycle of one fiber looping on
 *   that callback, driven by a plain loop calling `resume` (no GC may run:
 *   start node with a large `--min-semi-space-size`), after 1,000,000 cycles
 *   of warm-up.
 * - `spin`: 200,000 cycles, then `CYCLES` more (for an instruction counter:
 *   valgrind's callgrind, difference of two runs).
 *
 * The cycle loop is bench/upstream/cycle.ts; bench/upstream/cpu.ts times it.
 *
 * ```sh
 * node --expose-gc bench/upstream/measure.ts heap
 * ```
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Net from "node:net"
import * as V8 from "node:v8"
import * as Tcp from "../../src/net/Tcp.ts"
import { AsyncContextPropagation, makeLoop } from "./cycle.ts"

const optOut = process.env.ASYNC_CONTEXT !== "on"
const withOptOut = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  optOut ? Effect.provideService(effect, AsyncContextPropagation, false) : effect

const gc = (globalThis as unknown as { readonly gc: () => void }).gc
const heapAfterGc = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

const count = 10_000
const resumes: Array<((effect: Effect.Effect<void>) => void) | undefined> = new Array(count).fill(undefined)
let next = 0
const cancel = Effect.sync(() => {})
const wait = Effect.callback<void>((resume) => {
  resumes[next++ % count] = resume
  return cancel
})
const onExit = (_exit: Exit.Exit<unknown, unknown>): void => {}

const forkSuspended = (fibers: Array<Fiber.Fiber<void> | undefined>, n: number) =>
  withOptOut(Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      const fiber = yield* Effect.forkDetach(wait)
      fiber.addObserver(onExit)
      fibers[i] = fiber
    }
  }))

const heap = async (): Promise<number> => {
  const fibers: Array<Fiber.Fiber<void> | undefined> = new Array(count).fill(undefined)
  // Warm up (compile, one-time caches), then drop it all.
  await Effect.runPromise(forkSuspended(fibers, 1000))
  await turns(3)
  await Effect.runPromise(Effect.forEach(fibers.slice(0, 1000), (f) => f === undefined ? Effect.void : Fiber.interrupt(f)))
  fibers.fill(undefined)
  resumes.fill(undefined)
  next = 0
  await turns(3)
  const before = heapAfterGc()
  await Effect.runPromise(forkSuspended(fibers, count))
  await turns(3)
  const after = heapAfterGc()
  if (next !== count) throw new Error(`only ${next} of ${count} fibers suspended`)
  return (after - before) / count
}

const handler = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) {
    const chunk = yield* conn.receivePartial()
    yield* conn.send(chunk)
  }
})

// Both ends in this process: 2 fds per connection under a 20,000 fd limit.
const connections = 9_000

const tcp = async (): Promise<number> => {
  let server: { readonly port: number; readonly active: () => number } | undefined
  const program = withOptOut(Effect.gen(function*() {
    const s = yield* Tcp.serve({ host: "127.0.0.1", port: 0, backlog: 4096, handler })
    server = { port: s.address.port, active: () => s.stats().active }
    return yield* Effect.never
  })).pipe(Effect.scoped, Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({})))))
  const main = Effect.runFork(program)
  for (let i = 0; i < 100 && server === undefined; i++) await turns(1)
  if (server === undefined) throw new Error("server did not start")
  const { active, port } = server
  const clients: Array<Net.Socket | undefined> = new Array(connections).fill(undefined)
  const connectAll = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, to - i) }, (_, j) =>
        new Promise<void>((resolve, reject) => {
          const socket = Net.connect({ host: "127.0.0.1", port }, () => resolve())
          socket.on("error", reject)
          clients[i + j] = socket
        })))
    }
    for (let i = 0; i < 2000 && active() < to; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    if (active() < to) throw new Error(`server holds ${active()} of ${to}`)
  }
  // Warm up with 200 connections kept open (their cost is in the baseline).
  await connectAll(0, 200)
  await turns(5)
  const before = heapAfterGc()
  await connectAll(200, connections)
  await turns(5)
  const after = heapAfterGc()
  // Every patched build must still echo: wake 100 of the idle connections.
  await Promise.all(clients.slice(0, 100).map((socket) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no echo within 5 s")), 5000)
      socket!.once("data", () => {
        clearTimeout(timer)
        resolve()
      })
      socket!.write("ping")
    })))
  for (const socket of clients) socket?.destroy()
  await Effect.runPromise(Fiber.interrupt(main))
  return (after - before) / (connections - 200)
}

// Bytes in every heap space but code space: the optimizing compiler's output
// lands in code (and some in old) space at unpredictable times.
const spaces = (): Record<string, number> =>
  Object.fromEntries(V8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]))

const alloc = (): readonly [young: number, old: number] => {
  const { cycles, stop } = makeLoop(optOut)
  cycles(1_000_000)
  // New-space growth over 200,000 cycles with no collection in between (V8
  // reports it in page-sized steps, so the window must be long).
  const n = 200_000
  gc()
  const before = spaces()
  cycles(n)
  const after = spaces()
  if (after.new_space! <= before.new_space!) throw new Error("a scavenge ran: raise --min-semi-space-size")
  stop()
  return [(after.new_space! - before.new_space!) / n, (after.old_space! - before.old_space!) / n]
}

const mode = process.argv[2]
if (mode === "heap") {
  console.log(JSON.stringify({ mode, bytes: await heap() }))
} else if (mode === "tcp") {
  console.log(JSON.stringify({ mode, bytes: await tcp() }))
} else if (mode === "alloc") {
  const [young, old] = alloc()
  console.log(JSON.stringify({ mode, bytes: young, old }))
} else if (mode === "spin") {
  // For an instruction counter (valgrind): warm up, then run CYCLES cycles.
  const { cycles, stop } = makeLoop(optOut)
  cycles(200_000)
  cycles(Number(process.env.CYCLES ?? 0))
  stop()
} else {
  throw new Error(`unknown mode ${mode} (heap, tcp, alloc, spin)`)
}
