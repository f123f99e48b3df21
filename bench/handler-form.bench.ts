/**
 * The handler's form, by a measure the machine's load does not move: bytes
 * the V8 heap allocates per connection (connect, one-byte echo, close) with
 * fiberloop's echo written in the documented hoisted form
 * (`Effect.fnUntraced(function*(conn) {...})`) against the same loop inline
 * (`(conn) => Effect.gen(function*() {...})`), both from bench/echo-server.ts.
 * Servers and clients run in this one process, so the clients' allocations
 * are in both numbers alike and the difference is the handler's. The process's
 * CPU per connection is a side row (indicative: it moves with the load). A
 * second case isolates the form's own cost without sockets: the handler run
 * on a stand-in connection whose first read fails (the effect, its fiber, the
 * generator, the exit), in allocated bytes and CPU per start.
 *
 * `npm run bench -- handler-form`; `BENCH_CONNECTIONS` (default 4,000) per
 * measurement, after `BENCH_WARMUP` (default 3) unrecorded ones of each form:
 * the first measurements allocate more while V8 compiles. `BENCH_FORMS=1 npm run bench -- tcp` compares the same two
 * forms in a server process of their own (rates, server CPU, memory per idle
 * connection).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Scope from "effect/Scope"
import { GCProfiler, getHeapStatistics } from "node:v8"
import * as Tcp from "../src/net/Tcp.ts"
import { echoHandlers, type HandlerForm } from "./echo-server.ts"
import { compare, type Sample } from "./harness.ts"
import { connectTo } from "./load.ts"

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4000)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const LOOPS = 16

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

/** Bytes allocated on the V8 heap while `body` runs: growth between collections plus what each collection freed. */
const allocatedDuring = async (body: () => Promise<void>): Promise<number> => {
  const profiler = new GCProfiler()
  const start = getHeapStatistics().used_heap_size
  profiler.start()
  await body()
  const end = getHeapStatistics().used_heap_size
  let freed = 0
  for (const event of profiler.stop().statistics) {
    freed += event.beforeGC.heapStatistics.usedHeapSize - event.afterGC.heapStatistics.usedHeapSize
  }
  return end - start + freed
}

/** A stand-in connection: the handler's first read fails at once, so a run is the handler's start and end. */
const stub = { receivePartial: () => Effect.fail("closed"), send: () => Effect.void } as unknown as Tcp.Connection
const STARTS = 100_000

/** One measurement of `STARTS` handler runs on the stand-in: allocated bytes per start, and CPU (ns) as side `cpu`. */
const startSample = async (form: HandlerForm): Promise<Sample> => {
  const handler = echoHandlers[form]
  gc()
  const cpu = process.cpuUsage()
  const allocated = await allocatedDuring(async () => {
    for (let i = 0; i < STARTS; i++) Effect.runSyncExit(handler(stub))
  })
  const used = process.cpuUsage(cpu)
  return { value: allocated / STARTS, side: { cpu: (used.user + used.system) * 1000 / STARTS } }
}

/** `count` connections over `LOOPS` concurrent loops: connect, send one byte, wait for its echo, close. */
const connections = async (port: number, count: number): Promise<void> => {
  let started = 0
  const loop = async () => {
    while (started++ < count) {
      const socket = await connectTo(port)
      await new Promise<void>((done) => {
        socket.once("data", () => socket.end())
        socket.once("close", () => done())
        socket.write("x")
      })
    }
  }
  await Promise.all(Array.from({ length: LOOPS }, loop))
}

/** One measurement: allocated bytes per connection, and the process's CPU per connection as side `cpu`. */
const sample = async (port: number): Promise<Sample> => {
  gc()
  const cpu = process.cpuUsage()
  const allocated = await allocatedDuring(() => connections(port, CONNECTIONS))
  const used = process.cpuUsage(cpu)
  return { value: allocated / CONNECTIONS, side: { cpu: (used.user + used.system) / CONNECTIONS } }
}

const scope = Scope.makeUnsafe()
const serve = (form: HandlerForm): Promise<number> =>
  Effect.runPromise(
    Tcp.serve({ host: "127.0.0.1", port: 0, backlog: 4096, handler: echoHandlers[form] }).pipe(
      Effect.map((server) => server.address.port),
      Scope.provide(scope),
      Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({}))))
    )
  )
const hoisted = await serve("hoisted")
const inline = await serve("inline")
for (let i = 0; i < WARMUP; i++) {
  await sample(hoisted)
  await sample(inline)
  await startSample("hoisted")
  await startSample("inline")
}

await compare("Handler form (fiberloop: hoisted; servers and clients in one process)", "inline handler", [{
  name: `V8 heap bytes allocated per connection (${CONNECTIONS.toLocaleString("en-US")}, 1-byte echo)`,
  unit: "B",
  higherIsBetter: false,
  target: 1,
  subject: () => sample(hoisted),
  baseline: () => sample(inline),
  side: [{ key: "cpu", name: "process CPU per connection", unit: "µs", higherIsBetter: false, target: 1 }]
}, {
  name: "V8 heap bytes allocated per handler start (no socket)",
  unit: "B",
  higherIsBetter: false,
  target: 1,
  subject: () => startSample("hoisted"),
  baseline: () => startSample("inline"),
  side: [{ key: "cpu", name: "CPU per handler start", unit: "ns", higherIsBetter: false, target: 1 }]
}], { rounds: Number(process.env.BENCH_ROUNDS ?? 7), warmup: false })

await Effect.runPromise(Scope.close(scope, Exit.void))
