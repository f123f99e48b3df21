/**
 * One port served by several processes: a primary that supervises worker
 * processes, each running the same server with `reusePort`.
 *
 * The same entry script runs in every process. In the primary,
 * `Workers.make` forks it `count` times (`child_process.fork` of
 * `process.argv[1]` with `process.execArgv`); in each worker,
 * `Workers.worker(serve)` runs `serve(port)` (a `Tcp.serve` with
 * `reusePort: true`, say) and reports the bound address. Every worker listens
 * on the port itself with `SO_REUSEPORT` and the kernel spreads new
 * connections over them: no process relays connections, and each worker has
 * its own file descriptor limit, heap and core. With port 0 the first worker
 * picks the port and the others (and every replacement) bind the one it got.
 *
 * The primary restarts a worker that exits, at most `maxRestarts` times within
 * `restartWindow` (OTP's restart intensity); one more exit fails the group
 * with `WorkersError { reason: "RestartIntensity" }`. Closing the primary's
 * scope (Ctrl-C or SIGTERM under `NodeRuntime.runMain`) disconnects every
 * worker's IPC channel; a worker takes that as its stop: it closes its
 * `serve` scope (servers stop accepting and drain within their
 * `drainTimeout`) and exits. The primary waits up to `stopTimeout` and then
 * kills what is left by PID. A worker whose primary dies sees the same
 * disconnect and stops too.
 *
 * Why `child_process.fork` and not `node:cluster`: a cluster worker's `listen`
 * goes through the primary (which accepts and hands out connections, or shares
 * one listening socket) unless `exclusive: true`; `reusePort` gives every
 * worker a listening socket of its own, so the cluster machinery would only
 * add global state (`cluster.isPrimary`, one `setupPrimary` per process).
 * `fork` takes the script, arguments and environment per group, so tests and
 * tools can fork a script other than their own.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { type ChildProcess, fork } from "node:child_process"
import type * as Connection from "./Connection.ts"

// =============================================================================
// Roles
// =============================================================================

const indexVariable = "FIBERLOOP_WORKER"
const portVariable = "FIBERLOOP_WORKER_PORT"

/** This process's worker index and port, read once; removed from the environment so its children are not workers. */
const role: { readonly index: number; readonly port: number } | undefined = (() => {
  const index = process.env[indexVariable]
  const port = process.env[portVariable]
  if (index === undefined || port === undefined || process.send === undefined) return undefined
  delete process.env[indexVariable]
  delete process.env[portVariable]
  return { index: Number(index), port: Number(port) }
})()

/**
 * `true` in a process that `Workers.make` forked: the script should run
 * `Workers.worker(serve)` there (`Workers.run` does the choosing).
 *
 * **Example** (One script, two roles)
 *
 * ```ts
 * const main: Effect.Effect<void, unknown, Tcp.Tcp> = Workers.isWorker
 *   ? Workers.worker(serve)
 *   : Effect.scoped(Effect.flatMap(Workers.make({ count: 4 }), (group) => group.join))
 * Loop.run(main)
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isWorker: boolean = role !== undefined

/**
 * This worker's index (0 to `count - 1`, kept by its replacements), or
 * `undefined` in the primary.
 *
 * **Example** (Naming the worker in its logs)
 *
 * ```ts
 * yield* Effect.log(`worker ${Workers.workerIndex} up`)
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const workerIndex: number | undefined = role?.index

// =============================================================================
// Models
// =============================================================================

/**
 * What went wrong with a group of workers:
 * - `InvalidOptions`: `count` is not a positive integer, or `port` not a port;
 * - `StartFailed`: a worker exited, or did not report listening within
 *   `startTimeout`, before the group started (`detail` says how; a failing
 *   `serve` sends its cause);
 * - `RestartIntensity`: workers exited more than `maxRestarts` times within
 *   `restartWindow` (`detail` names the last one);
 * - `NotWorker`: `Workers.worker` ran in a process `Workers.make` did not fork.
 *
 * **Example** (Telling a crash loop from a bad start)
 *
 * ```ts
 * group.join.pipe(Effect.catchTag("WorkersError", (e) => Effect.logError(e.reason, e.detail)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class WorkersError extends Data.TaggedError("WorkersError")<{
  readonly reason: "InvalidOptions" | "StartFailed" | "RestartIntensity" | "NotWorker"
  /** The worker concerned, when there is one. */
  readonly index?: number | undefined
  readonly detail: string
}> {
  override get message() {
    return `Workers ${this.reason}${this.index === undefined ? "" : ` (worker ${this.index})`}: ${this.detail}`
  }
}

/**
 * Options for `Workers.make`. `count` is required; every bound has a default.
 *
 * **Example** (Four workers, at most 3 restarts a minute)
 *
 * ```ts
 * const options: Workers.Options = { count: 4, port: 7000, maxRestarts: 3, restartWindow: "1 minute" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Worker processes to run. */
  readonly count: number
  /** The port every worker serves; 0 (the default): the first worker picks one, the others bind it too. */
  readonly port?: number | undefined
  /** Worker exits tolerated within `restartWindow`; one more fails the group. Default 5. */
  readonly maxRestarts?: number | undefined
  /** The window `maxRestarts` counts in. Default 10 seconds. */
  readonly restartWindow?: Duration.Input | undefined
  /** How long a worker may take to report listening. Default 30 seconds. */
  readonly startTimeout?: Duration.Input | undefined
  /** How long stopping waits for a worker to exit before killing it (above `drainTimeout`). Default 10 seconds. */
  readonly stopTimeout?: Duration.Input | undefined
  /** The script every worker runs. Default `process.argv[1]`, this script. */
  readonly script?: string | undefined
  /** The script's arguments. Default `process.argv.slice(2)`. */
  readonly args?: ReadonlyArray<string> | undefined
  /** Node's own flags for the workers (leave out `--inspect`: one port for all). Default `process.execArgv`. */
  readonly execArgv?: ReadonlyArray<string> | undefined
  /** Variables added to the workers' environment (they inherit this process's). */
  readonly env?: Readonly<Record<string, string>> | undefined
}

/**
 * A live worker process.
 *
 * **Example** (Listing PIDs)
 *
 * ```ts
 * group.workers().map((w) => w.pid) // => [41001, 41002, 41003, 41004]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkerInfo {
  /** Its slot, 0 to `count - 1`; a replacement keeps the slot. */
  readonly index: number
  readonly pid: number
}

/**
 * A running group of workers, from `Workers.make`; it stops when the scope
 * `make` ran in closes.
 *
 * **Example** (The port every worker serves)
 *
 * ```ts
 * const group = yield* Workers.make({ count: 4 })
 * group.address.port // => 41234
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Group {
  /** The address the first worker bound; every worker serves its port. */
  readonly address: Connection.Address
  /** The workers that are listening now, by slot. */
  readonly workers: () => ReadonlyArray<WorkerInfo>
  /** Workers restarted since the start. */
  readonly restarts: () => number
  /** Waits until the group fails (`RestartIntensity`) or stops. */
  readonly join: Effect.Effect<void, WorkersError>
}

// =============================================================================
// Primary
// =============================================================================

type Message =
  | { readonly fiberloopWorker: "listening"; readonly address: Connection.Address }
  | { readonly fiberloopWorker: "failed"; readonly detail: string }

const isMessage = (u: unknown): u is Message =>
  typeof u === "object" && u !== null && "fiberloopWorker" in u

/** A forked worker: its process, and what it reported. */
interface Child {
  readonly process: ChildProcess
  readonly pid: number
  readonly listening: Deferred.Deferred<Connection.Address>
  /** Completes with how the process ended, as text. */
  readonly exited: Deferred.Deferred<string>
}

const toMillis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

const format = (input: Duration.Input): string => Duration.format(Duration.fromInputUnsafe(input))

/** Kills one process; never 0 or below (`kill` would signal a whole process group). */
const killByPid = (pid: number): void => {
  if (pid <= 0) return
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/**
 * Forks, supervises and stops the workers. In the primary only: the
 * group's `address` is known once every worker listens.
 *
 * **Example** (A primary that logs where it serves)
 *
 * ```ts
 * const primary = Effect.scoped(Effect.gen(function*() {
 *   const group = yield* Workers.make({ count: 4, port: 0 })
 *   yield* Effect.log(`serving on ${group.address.port} from ${group.workers().length} processes`)
 *   return yield* group.join
 * }))
 * const main: Effect.Effect<void, unknown, Tcp.Tcp> = Workers.isWorker ? Workers.worker(serve) : primary
 * Loop.run(main)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: (options: Options) => Effect.Effect<Group, WorkersError, Scope.Scope> = Effect.fn("Workers.make")(
  function*(options: Options) {
    const count = options.count
    const port = options.port ?? 0
    if (!Number.isInteger(count) || count < 1) {
      return yield* new WorkersError({ reason: "InvalidOptions", detail: `count must be a positive integer: ${count}` })
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* new WorkersError({ reason: "InvalidOptions", detail: `port must be 0 to 65535: ${port}` })
    }
    const script = options.script ?? process.argv[1]!
    const args = options.args ?? process.argv.slice(2)
    const execArgv = options.execArgv ?? process.execArgv
    const maxRestarts = options.maxRestarts ?? 5
    const restartWindow = options.restartWindow ?? "10 seconds"
    const windowMillis = toMillis(restartWindow)
    const startTimeout = options.startTimeout ?? "30 seconds"
    const stopTimeout = options.stopTimeout ?? "10 seconds"
    const live = new Map<number, WorkerInfo>()
    const restartTimes: Array<number> = []
    let restarts = 0
    let bound = port

    const spawn = (index: number): Effect.Effect<Child> =>
      Effect.sync(() => {
        const child = fork(script, [...args], {
          execArgv: [...execArgv],
          env: { ...process.env, ...options.env, [indexVariable]: String(index), [portVariable]: String(bound) }
        })
        const listening = Deferred.makeUnsafe<Connection.Address>()
        const exited = Deferred.makeUnsafe<string>()
        let failure = ""
        child.on("message", (message: unknown) => {
          if (!isMessage(message)) return
          if (message.fiberloopWorker === "listening") Deferred.doneUnsafe(listening, Exit.succeed(message.address))
          else failure = `: ${message.detail}`
        })
        child.once("exit", (code, signal) =>
          Deferred.doneUnsafe(
            exited,
            Exit.succeed(`${signal === null ? `exited with code ${code}` : `was killed by ${signal}`}${failure}`)
          ))
        // without a pid the process never started, and 'exit' does not follow
        child.once("error", (error) => {
          if (child.pid === undefined) Deferred.doneUnsafe(exited, Exit.succeed(`could not start: ${error.message}`))
        })
        return { process: child, pid: child.pid ?? 0, listening, exited }
      })

    /** Disconnects the worker (its signal to stop), waits up to `stopTimeout`, then kills it by PID. */
    const stop = (child: Child): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (Deferred.isDoneUnsafe(child.exited)) return Effect.void
        if (child.process.connected) child.process.disconnect()
        return Deferred.await(child.exited).pipe(
          Effect.timeoutOrElse({
            duration: stopTimeout,
            orElse: () => Effect.andThen(Effect.sync(() => killByPid(child.pid)), Deferred.await(child.exited))
          }),
          Effect.asVoid
        )
      })

    /** Runs one worker process until it exits: how it ended, and whether it listened first. */
    const runOnce = (index: number, onListening: (address: Connection.Address) => void) =>
      Effect.gen(function*() {
        const child = yield* Effect.acquireRelease(spawn(index), stop)
        const first = yield* Effect.raceFirst(
          Effect.map(Deferred.await(child.listening), Option.some),
          Effect.as(Deferred.await(child.exited), Option.none<Connection.Address>())
        ).pipe(Effect.timeoutOption(startTimeout))
        if (Option.isNone(first)) {
          return { listened: false, ending: `did not report listening within ${format(startTimeout)}` }
        }
        if (Option.isNone(first.value)) return { listened: false, ending: yield* Deferred.await(child.exited) }
        live.set(index, { index, pid: child.pid })
        onListening(first.value.value)
        const ending = yield* Deferred.await(child.exited).pipe(Effect.ensuring(Effect.sync(() => live.delete(index))))
        return { listened: true, ending }
      }).pipe(Effect.scoped)

    /** Counts a restart; fails once more than `maxRestarts` fall within `restartWindow`. */
    const restart = Effect.fnUntraced(function*(index: number, ending: string) {
      const now = yield* Clock.currentTimeMillis
      while (restartTimes.length > 0 && restartTimes[0]! <= now - windowMillis) restartTimes.shift()
      if (restartTimes.length >= maxRestarts) {
        return yield* new WorkersError({
          reason: "RestartIntensity",
          index,
          detail: `more than ${maxRestarts} restarts within ${format(restartWindow)}; the last worker ${ending}`
        })
      }
      restartTimes.push(now)
      restarts++
      yield* Effect.logWarning(`Workers: worker ${index} ${ending}; restarting it`)
    })

    /** One slot: its worker, restarted while the intensity allows; `started` learns the first address. */
    const supervise = (index: number, started: Deferred.Deferred<Connection.Address, WorkersError>) =>
      Effect.gen(function*() {
        let listenedOnce = false
        const onListening = (address: Connection.Address) => {
          listenedOnce = true
          Deferred.doneUnsafe(started, Exit.succeed(address))
        }
        // bounded: every turn is a restart, and `restart` fails past the intensity
        for (;;) {
          const { ending, listened } = yield* runOnce(index, onListening)
          if (!listenedOnce && !listened) {
            return yield* new WorkersError({ reason: "StartFailed", index, detail: ending })
          }
          yield* restart(index, ending)
        }
      }).pipe(Effect.tapCause((cause) => Deferred.failCause(started, cause)))

    const fibers = yield* FiberSet.make<never, WorkersError>()
    const start = (index: number) =>
      Effect.flatMap(Deferred.make<Connection.Address, WorkersError>(), (started) =>
        Effect.as(FiberSet.run(fibers, supervise(index, started)), started))

    const address = yield* Effect.flatMap(start(0), Deferred.await)
    bound = address.port
    const others = yield* Effect.forEach(Array.from({ length: count - 1 }, (_, i) => i + 1), start)
    yield* Effect.forEach(others, Deferred.await, { discard: true })

    return {
      address,
      workers: () => Array.from(live.values()).sort((a, b) => a.index - b.index),
      restarts: () => restarts,
      join: FiberSet.join(fibers)
    } satisfies Group
  }
)

// =============================================================================
// Worker
// =============================================================================

const send = (message: Message) =>
  Effect.callback<void>((resume) => {
    if (process.send === undefined || !process.connected) return resume(Effect.void)
    process.send(message, undefined, {}, () => resume(Effect.void))
  })

/**
 * The worker's side: runs `serve(port)` in a scope of its own, reports the
 * bound address to the primary, and serves until the primary disconnects
 * (it stops the group, or died); then closes that scope, so servers stop
 * accepting and drain within their `drainTimeout`, and completes: under
 * `NodeRuntime.runMain` the process then exits. `serve` must listen with
 * `reusePort: true` on the port it is given. Fails with
 * `WorkersError { reason: "NotWorker" }` outside a forked worker.
 *
 * **Example** (An echo worker)
 *
 * ```ts
 * const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
 *   for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
 * })
 * const serve = (port: number) => Tcp.serve({ host: "127.0.0.1", port, reusePort: true, handler: echo })
 * Loop.run(Workers.worker(serve))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const worker = <A extends { readonly address: Connection.Address }, E, R>(
  serve: (port: number) => Effect.Effect<A, E, R>
): Effect.Effect<void, E | WorkersError, Exclude<R, Scope.Scope>> =>
  Effect.scoped(Effect.gen(function*() {
    if (role === undefined) {
      return yield* new WorkersError({ reason: "NotWorker", detail: "this process was not forked by Workers.make" })
    }
    const stopped = Deferred.makeUnsafe<void>()
    const onDisconnect = () => Deferred.doneUnsafe(stopped, Exit.void)
    yield* Effect.acquireRelease(
      Effect.sync(() => process.once("disconnect", onDisconnect)),
      () => Effect.sync(() => process.off("disconnect", onDisconnect))
    )
    if (!process.connected) return
    const server = yield* serve(role.port).pipe(
      Effect.tapCause((cause) => send({ fiberloopWorker: "failed", detail: Cause.pretty(cause) }))
    )
    yield* send({ fiberloopWorker: "listening", address: server.address })
    yield* Deferred.await(stopped)
  }))

/**
 * Options for `Workers.run`: the group's, and the worker's `serve`.
 *
 * **Example** (Four echo workers)
 *
 * ```ts
 * const options: Workers.RunOptions<never, Tcp.Tcp> = { count: 4, port: 7000, serve }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RunOptions<E, R> extends Options {
  /** What each worker runs: listen on `port` with `reusePort: true`, return the server (its `address`). */
  readonly serve: (port: number) => Effect.Effect<{ readonly address: Connection.Address }, E, R>
}

/**
 * The whole program for both roles: in a worker, `Workers.worker(serve)`; in
 * the primary, `Workers.make(options)` until the group fails or the program
 * is interrupted (then every worker drains and exits).
 *
 * **Example** (An echo server on four processes)
 *
 * ```ts
 * const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
 *   for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
 * })
 * const serve = (port: number) => Tcp.serve({ host: "127.0.0.1", port, reusePort: true, handler: echo })
 * Loop.run(Workers.run({ count: 4, port: 7000, serve }))  // Ctrl-C: every worker drains, then exits
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const run = <E, R>(options: RunOptions<E, R>): Effect.Effect<void, E | WorkersError, Exclude<R, Scope.Scope>> =>
  isWorker ? worker(options.serve) : Effect.scoped(Effect.flatMap(make(options), (group) => group.join))
