/**
 * A program that uses fiberloop as another project would: installed from the
 * packed tarball, imported by package name, typechecked against the emitted
 * declarations. It serves a TCP echo on 127.0.0.1 (port 0), asks it once, and
 * exits 0 with a line saying so.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { Loop, Sync, Tcp } from "fiberloop"
import { Lock } from "fiberloop/sync"

// A hoisted handler, annotated with the exported connection type.
const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
})

const program = Effect.gen(function*() {
  const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: echo })
  const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port, timeout: "2 seconds" })
  yield* conn.send("ping\n")
  const reply = yield* conn.receive("*l")
  // fiberloop's sync primitives next to Effect's Queue, with no aliasing.
  const lock: Lock.Lock = yield* Sync.Lock.make()
  const replies = yield* Queue.unbounded<string>()
  yield* lock.withLock(Queue.offer(replies, reply))
  const got = yield* Queue.take(replies)
  if (got !== "ping") return yield* Effect.fail(new Error(`expected "ping" back, got ${JSON.stringify(got)}`))
  yield* Console.log(`consumer: fiberloop from the tarball served and answered a TCP echo on 127.0.0.1:${server.address.port}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.timeout("10 seconds"), Effect.provide(Loop.layer))).catch(
  (error: unknown) => {
    process.stderr.write(`consumer: FAILED: ${String(error)}\n`)
    process.exitCode = 1
  }
)
