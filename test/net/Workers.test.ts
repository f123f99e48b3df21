import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import * as Tcp from "../../src/net/Tcp.ts"
import * as Workers from "../../src/net/Workers.ts"
import { spawnProcess, TcpLive } from "./support.ts"

const fixture = fileURLToPath(new URL("./fixtures/workers-echo.ts", import.meta.url))

/** The fixture's workers, forked from this test process. */
const group = (options?: Partial<Workers.Options>) =>
  Workers.make({ count: 2, script: fixture, args: [], execArgv: [], ...options })

/** A raw client that asks one line at a time and reads the `<pid> <line>` reply; destroyed with the scope. */
const client = (port: number) =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(
      Effect.callback<Net.Socket, Error>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port })
        socket.once("connect", () => resume(Effect.succeed(socket)))
        socket.once("error", (error) => resume(Effect.fail(error)))
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    socket.on("error", () => {})
    let buffered = ""
    const ask = (line: string) =>
      Effect.callback<{ readonly pid: number; readonly text: string }, Error>((resume) => {
        const onData = (chunk: Buffer) => {
          buffered += chunk.toString()
          const end = buffered.indexOf("\n")
          if (end < 0) return
          const reply = buffered.slice(0, end)
          buffered = buffered.slice(end + 1)
          socket.off("data", onData)
          socket.off("close", onClose)
          const space = reply.indexOf(" ")
          resume(Effect.succeed({ pid: Number(reply.slice(0, space)), text: reply.slice(space + 1) }))
        }
        const onClose = () => resume(Effect.fail(new Error(`closed before a reply to ${line}`)))
        socket.on("data", onData)
        socket.once("close", onClose)
        socket.write(`${line}\n`)
      }).pipe(Effect.timeout("5 seconds"))
    return { socket, ask }
  })

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Polls `condition` until it holds, for at most 15 seconds. */
const eventually = (condition: () => boolean) =>
  Effect.sync(condition).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (ok) => ok }),
    Effect.timeout("15 seconds")
  )

/** Whether a new connection to `port` is refused (every worker has stopped listening). */
const refused = (port: number) =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", () => resume(Effect.succeed(true)))
  })

describe("Workers", () => {
  it.live("several workers serve one port (port 0): connections land on more than one, every one echoes", () =>
    Effect.gen(function*() {
      const workers = yield* group({ count: 3 })
      const pids = workers.workers().map((w) => w.pid)
      assert.strictEqual(pids.length, 3)
      assert.isAbove(workers.address.port, 0)
      const replies = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => Effect.flatMap(client(workers.address.port), (c) => c.ask(`hello ${i}`)),
        { concurrency: 40 }
      )
      replies.forEach((reply, i) => {
        assert.strictEqual(reply.text, `hello ${i}`)
        assert.include(pids, reply.pid)
      })
      assert.isAbove(new Set(replies.map((r) => r.pid)).size, 1)
    }).pipe(Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("a crashed worker is restarted in its slot and the port keeps serving", () =>
    Effect.gen(function*() {
      const workers = yield* group({ maxRestarts: 3, restartWindow: "1 minute" })
      const port = workers.address.port
      const crashing = yield* client(port)
      const first = yield* crashing.ask("who")
      yield* crashing.ask("crash").pipe(Effect.flip)
      yield* eventually(() => {
        const now = workers.workers().map((w) => w.pid)
        return now.length === 2 && !now.includes(first.pid)
      })
      assert.strictEqual(workers.restarts(), 1)
      const pids = workers.workers().map((w) => w.pid)
      const replies = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => Effect.flatMap(client(port), (c) => c.ask(`again ${i}`)),
        { concurrency: 10 }
      )
      replies.forEach((reply, i) => {
        assert.strictEqual(reply.text, `again ${i}`)
        assert.include(pids, reply.pid)
      })
      assert.isFalse(isAlive(first.pid))
    }).pipe(Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("more restarts than the intensity allows fail the group with a typed error", () =>
    Effect.gen(function*() {
      const workers = yield* group({ count: 1, maxRestarts: 1, restartWindow: "1 minute" })
      const port = workers.address.port
      const first = workers.workers()[0]!.pid
      yield* Effect.flatMap(client(port), (c) => c.ask("crash")).pipe(Effect.flip)
      yield* eventually(() => workers.workers().length === 1 && workers.workers()[0]!.pid !== first)
      yield* Effect.flatMap(client(port), (c) => c.ask("crash")).pipe(Effect.flip)
      const error = yield* workers.join.pipe(Effect.flip, Effect.timeout("15 seconds"))
      assert.strictEqual(error._tag, "WorkersError")
      assert.strictEqual(error.reason, "RestartIntensity")
      assert.strictEqual(error.index, 0)
      assert.include(error.detail, "exited with code 3")
    }).pipe(Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("stopping lets a connection mid-conversation finish within drainTimeout, then every worker exits", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const workers = yield* group({ stopTimeout: "30 seconds" }).pipe(Scope.provide(scope))
      const port = workers.address.port
      const pids = workers.workers().map((w) => w.pid)
      const talking = yield* client(port)
      const before = yield* talking.ask("one")
      const started = Date.now()
      const stopping = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      // every worker stops listening first...
      yield* Effect.flatMap(refused(port), (r) => Effect.sync(() => r)).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (r) => r }),
        Effect.timeout("10 seconds")
      )
      // ...while the open connection is still served, by the same worker
      const after = yield* talking.ask("two")
      assert.deepStrictEqual(after, { pid: before.pid, text: "two" })
      assert.isUndefined(stopping.pollUnsafe())
      talking.socket.end()
      yield* Fiber.join(stopping).pipe(Effect.timeout("10 seconds"))
      // the workers exited by themselves, long before stopTimeout would have killed them
      assert.isBelow(Date.now() - started, 10_000)
      for (const pid of pids) assert.isFalse(isAlive(pid), `worker ${pid} still runs`)
    }).pipe(Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("a worker that does not exit within stopTimeout is killed by PID", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const workers = yield* group({ count: 1, stopTimeout: "1 second" }).pipe(Scope.provide(scope))
      const hung = yield* Effect.flatMap(client(workers.address.port), (c) => c.ask("hang"))
      assert.strictEqual(hung.text, "hung")
      const started = Date.now()
      yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("15 seconds"))
      // its server would drain for 5 seconds, then wait forever for the uninterruptible handler
      assert.isBelow(Date.now() - started, 5_000)
      assert.isFalse(isAlive(hung.pid))
    }).pipe(Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("a worker whose primary is killed exits; SIGTERM to a primary stops its workers", () =>
    Effect.gen(function*() {
      for (const signal of ["SIGKILL", "SIGTERM"] as const) {
        const primary = yield* spawnProcess(process.execPath, [fixture, "2"])
        const started = JSON.parse(yield* primary.line.pipe(Effect.timeout("20 seconds"))) as {
          readonly port: number
          readonly pids: Array<number>
        }
        assert.strictEqual(started.pids.length, 2, primary.stderr())
        const reply = yield* Effect.scoped(Effect.flatMap(client(started.port), (c) => c.ask("hi")))
        assert.include(started.pids, reply.pid)
        primary.child.kill(signal)
        yield* primary.exited.pipe(Effect.timeout("15 seconds"))
        yield* eventually(() => started.pids.every((pid) => !isAlive(pid)))
        for (const pid of started.pids) assert.isFalse(isAlive(pid), `${signal}: worker ${pid} still runs`)
      }
    }).pipe(Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("a worker that cannot listen fails the start with a typed error carrying its cause", () =>
    Effect.gen(function*() {
      const taken = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: () => Effect.void })
      const error = yield* group({ count: 1, port: taken.address.port }).pipe(Effect.flip)
      assert.strictEqual(error.reason, "StartFailed")
      assert.include(error.detail, "exited with code 1")
      assert.include(error.detail, "AddressInUse")
    }).pipe(Effect.provide(TcpLive), Effect.timeout("30 seconds")), { timeout: 60_000 })

  it.effect("bad options and a process not forked by Workers.make get typed errors", () =>
    Effect.gen(function*() {
      const count = yield* Workers.make({ count: 0 }).pipe(Effect.flip)
      assert.strictEqual(count.reason, "InvalidOptions")
      const port = yield* Workers.make({ count: 2, port: 70000 }).pipe(Effect.flip)
      assert.strictEqual(port.reason, "InvalidOptions")
      assert.isFalse(Workers.isWorker)
      const notWorker = yield* Workers.worker(() => Effect.never).pipe(Effect.flip)
      assert.strictEqual(notWorker.reason, "NotWorker")
    }))
})
