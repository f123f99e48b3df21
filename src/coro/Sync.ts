/**
 * Copas's `lock`, `semaphore`, `queue`, `timer` and `future` objects, as views
 * of fiberloop's sync primitives (`sync/Lock`, `sync/Semaphore`,
 * `sync/Queue`, `sync/Timer`) under Copas's names, arguments and results.
 *
 * Times are seconds, as in Copas. Waiting calls (`get`, `take`, `pop`,
 * `finish`, `future.get`) return promises and run in the calling thread's
 * fiber, so a lock is owned by the thread that got it; the rest are
 * synchronous and throw a `CopasError` where Copas returns `nil, err`.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as SyncLock from "../sync/Lock.ts"
import * as SyncQueue from "../sync/Queue.ts"
import * as SyncSemaphore from "../sync/Semaphore.ts"
import * as SyncTimer from "../sync/Timer.ts"
import { type CopasError, copasError, toCopasError } from "./Errors.ts"
import type { Runtime } from "./Runtime.ts"
import type { Body, ErrorHandler, Thread, ThreadImpl } from "./Thread.ts"

const ms = (seconds: number): number => seconds * 1000

const kindOf = (timeout: number): "timed" | "park" => (Number.isFinite(timeout) && timeout > 0 ? "timed" : "park")

const waitedError = (e: unknown) => toCopasError(e, { waited: ((e as { waited?: number }).waited ?? 0) / 1000 })

/** Runs a synchronous Effect, throwing its failure as a `CopasError`. */
const runNow = <A>(effect: Effect.Effect<A, unknown>): A => {
  const exit = Effect.runSyncExit(effect)
  if (exit._tag === "Success") return exit.value
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  throw toCopasError(failure?._tag === "Fail" ? failure.error : exit.cause)
}

// =============================================================================
// Lock
// =============================================================================

/**
 * Copas `copas.lock`: reentrant by default, FIFO, with a default timeout of
 * 10 seconds. `get` resolves with the seconds waited (0 when free: test with
 * `!== undefined`, not truthiness) and rejects with `"timeout"` or
 * `"destroyed"` (and `waited`). Differs from Copas in one case: a
 * non-reentrant lock got again by its owner rejects at once with
 * `"lock is not re-entrant"` instead of deadlocking until its timeout.
 *
 * **Example** (A critical section)
 *
 * ```ts
 * const lock = copas.lock.new()
 * await lock.get()
 * try { await work() } finally { await lock.release() }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class Lock {
  readonly lock: SyncLock.Lock
  private readonly runtime: Runtime
  private readonly timeout: number
  private destroyed = false

  constructor(runtime: Runtime, timeout = 10, notReentrant = false) {
    if (!(timeout >= 0)) throw copasError("timeout must be >= 0")
    this.runtime = runtime
    this.timeout = timeout
    this.lock = SyncLock.makeUnsafe({ timeout: ms(timeout), reentrant: !notReentrant })
  }

  /** Acquires the lock; resolves with the seconds waited. */
  get(timeout = this.timeout): Promise<number> {
    return this.runtime.call(
      (thread) =>
        Effect.mapError(
          Effect.flatMap(this.lock.get(ms(timeout)), (waited) =>
            waited > 0 ? this.resumed(thread, waited / 1000) : Effect.succeed(0)),
          waitedError
        ),
      kindOf(timeout)
    )
  }

  /**
   * A waiter handed the lock resumes at the next step (while a loop runs), as
   * in Copas, and fails with `"destroyed"` if the lock was destroyed meanwhile.
   */
  private resumed(thread: ThreadImpl | undefined, waited: number): Effect.Effect<number, CopasError> {
    const check = Effect.suspend(() =>
      this.destroyed ? Effect.fail(copasError("destroyed", { waited })) : Effect.succeed(waited)
    )
    return thread === undefined || !this.runtime.running ? check : Effect.andThen(this.runtime.pause(thread, 0), check)
  }

  /** Releases one acquisition; rejects with `"cannot release a lock not owned"`. */
  release(): Promise<true> {
    return this.runtime.call(
      () => this.destroyed ? Effect.fail(copasError("destroyed")) : Effect.as(this.lock.release, true as const),
      "run"
    )
  }

  /** Fails every waiter with `"destroyed"`, and every later call. */
  destroy(): true {
    if (this.destroyed) throw copasError("destroyed")
    this.destroyed = true
    Effect.runSync(this.lock.destroy)
    return true
  }
}

// =============================================================================
// Semaphore
// =============================================================================

/**
 * Copas `copas.semaphore`: `max` permits, `start` available (default 0),
 * strictly FIFO (a large request at the head blocks smaller ones behind it).
 *
 * **Example** (At most two at once)
 *
 * ```ts
 * const sema = copas.semaphore.new(2, 2)
 * await sema.take()
 * try { await work() } finally { sema.give() }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class Semaphore {
  readonly semaphore: SyncSemaphore.Semaphore
  private readonly runtime: Runtime
  private readonly timeout: number
  private destroyed = false

  constructor(runtime: Runtime, max: number, start = 0, timeout = 10) {
    if (!(timeout >= 0)) throw copasError("timeout must be >= 0")
    if (!(max >= 1)) throw copasError("max must be >= 1")
    this.runtime = runtime
    this.timeout = timeout
    this.semaphore = SyncSemaphore.makeUnsafe({ max, start, timeout: ms(timeout) })
  }

  /** Takes `n` permits, waiting FIFO; rejects with `"timeout"`, `"too many"` (n > max) or `"destroyed"`. */
  take(n = 1, timeout = this.timeout): Promise<true> {
    return this.runtime.call(
      (thread) =>
        Effect.suspend(() => {
          const waits = runNow(this.semaphore.waiting) > 0 || runNow(this.semaphore.count) < n
          const taken = Effect.mapError(Effect.as(this.semaphore.take(n, ms(timeout)), true as const), waitedError)
          if (!waits || thread === undefined || !this.runtime.running) return taken
          // a waiter served resumes at the next step, as in Copas
          return Effect.flatMap(taken, () =>
            Effect.andThen(
              this.runtime.pause(thread, 0),
              Effect.suspend(() => this.destroyed ? Effect.fail(copasError("destroyed")) : Effect.succeed(true as const))
            ))
        }),
      kindOf(timeout)
    )
  }

  /** Gives `n` permits; beyond `max` the count is capped, waiters are served, and it throws `"too many"`. */
  give(n = 1): true {
    this.check()
    const free = runNow(this.semaphore.count)
    if (free + n > this.semaphore.max) {
      if (this.semaphore.max > free) runNow(this.semaphore.give(this.semaphore.max - free))
      throw copasError("too many")
    }
    runNow(this.semaphore.give(n))
    return true
  }

  /** Permits available now. */
  get_count(): number {
    this.check()
    return runNow(this.semaphore.count)
  }

  /** Permits waited for beyond those available. */
  get_wait(): number {
    this.check()
    return runNow(this.semaphore.waiting) - runNow(this.semaphore.count)
  }

  /** Fails every waiter with `"destroyed"`, and every later call. */
  destroy(): true {
    this.check()
    this.destroyed = true
    Effect.runSync(this.semaphore.destroy)
    return true
  }

  private check(): void {
    if (this.destroyed) throw copasError("destroyed")
  }
}

// =============================================================================
// Queue
// =============================================================================

let queueIds = 0

/**
 * Copas `copas.queue`: an unbounded FIFO with workers. `push` after `stop`
 * throws `"stopping"`; after `destroy` every call throws or rejects with
 * `"destroyed"`. `undefined` is a legal item.
 *
 * **Example** (A worker)
 *
 * ```ts
 * const q = copas.queue.new({ name: "jobs" })
 * q.add_worker(async (job) => { await handle(job) })
 * q.push("a")
 * await q.finish()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class Queue {
  readonly name: string
  readonly queue: SyncQueue.Queue<unknown>
  private readonly runtime: Runtime
  private readonly scope = Scope.makeUnsafe()
  private stopped = false
  private destroyed = false
  private workerIds = 0

  constructor(runtime: Runtime, options?: { readonly name?: string | undefined }) {
    this.runtime = runtime
    this.name = options?.name ?? `copas_queue_${++queueIds}`
    this.queue = Effect.runSync(Scope.provide(SyncQueue.make<unknown>(), this.scope))
  }

  /** Destroyed, or stopped and drained (a stopped queue destroys itself once empty). */
  private get done(): boolean {
    return this.destroyed || (this.stopped && runNow(this.queue.length) === 0)
  }

  private check(): void {
    if (this.done) throw copasError("destroyed")
  }

  /** Appends an item; returns true. */
  push(item?: unknown): true {
    this.check()
    if (this.stopped) throw copasError("stopping")
    runNow(this.queue.push(item))
    return true
  }

  /** Takes the oldest item, waiting up to `timeout` seconds (default 10; 0 no wait; Infinity forever). */
  pop(timeout = 10): Promise<unknown> {
    return this.runtime.call(
      () =>
        Effect.suspend(() => {
          if (this.done) return Effect.fail(copasError("destroyed"))
          return Effect.mapError(this.queue.pop(ms(timeout)), (e) => toCopasError(e))
        }),
      kindOf(timeout)
    )
  }

  /** Items queued. */
  get_size(): number {
    this.check()
    return runNow(this.queue.length)
  }

  /** Refuses pushes; the queue destroys itself once empty. */
  stop(): true {
    this.check()
    this.stopped = true
    Effect.runSync(this.queue.stop)
    return true
  }

  /**
   * Stops, then resolves true once empty and every worker has finished its
   * item; on timeout rejects with `"timeout"` and destroys the queue (unless
   * `noDestroyOnTimeout`).
   */
  finish(timeout = 10, noDestroyOnTimeout = false): Promise<true> {
    return this.runtime.call(
      () =>
        Effect.suspend(() => {
          if (this.destroyed) return Effect.fail(copasError("destroyed"))
          this.stopped = true
          const finishing = Effect.as(this.queue.finish(), true as const)
          if (!Number.isFinite(timeout)) return finishing
          return Effect.timeoutOrElse(finishing, {
            duration: ms(timeout),
            orElse: () =>
              Effect.suspend(() => {
                if (!noDestroyOnTimeout) this.destroy()
                return Effect.fail(copasError("timeout"))
              })
          })
        }),
      kindOf(timeout)
    )
  }

  /** Drops every item; waiters get `"destroyed"`; workers end. */
  destroy(): true {
    if (this.destroyed) throw copasError("destroyed")
    this.destroyed = true
    this.stopped = true
    Effect.runFork(Scope.close(this.scope, Exit.void))
    return true
  }

  /** Starts a worker thread (`<queue>:worker_K`) calling `fn(item)` for each item until the queue is done. */
  add_worker(fn: Body): Thread {
    this.check()
    const runtime = this.runtime
    const thread = runtime.makeThread(`${this.name}:worker_${++this.workerIds}`, "parked")
    const fiber = Effect.runSync(this.queue.addWorker((item) => runtime.runTurn(thread, fn, [item], "parked")))
    fiber.addObserver(() => runtime.end(thread, Exit.void))
    return thread
  }
}

// =============================================================================
// Timer
// =============================================================================

let timerIds = 0

/**
 * Options of `copas.timer.new` (Copas names; seconds).
 *
 * **Example** (A one-shot timer)
 *
 * ```ts
 * copas.timer.new({ delay: 1, callback: () => console.log("fired") })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TimerOptions {
  readonly delay: number
  readonly callback: (timer: Timer, params: unknown) => unknown
  readonly recurring?: boolean | undefined
  readonly initial_delay?: number | undefined
  readonly params?: unknown
  readonly name?: string | undefined
  readonly errorhandler?: ErrorHandler | undefined
}

/**
 * Copas `copas.timer`: a callback run as a coroutine after `delay` seconds,
 * once or repeatedly. A one-shot timer is disarmed before its callback runs
 * (so the callback may re-arm it). An armed timer keeps the loop alive.
 *
 * **Example** (Every second until cancelled)
 *
 * ```ts
 * const t = copas.timer.new({ delay: 1, recurring: true, callback: (t) => console.log("tick") })
 * t.cancel()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class Timer {
  readonly name: string
  private readonly runtime: Runtime
  private readonly timer: SyncTimer.Timer
  private armed = false
  private readonly delay: number
  private readonly recurring: boolean

  constructor(runtime: Runtime, options: TimerOptions) {
    if (!(options.delay >= 0)) throw copasError("delay must be a number >= 0")
    if (typeof options.callback !== "function") throw copasError("callback must be a function")
    this.runtime = runtime
    this.delay = options.delay
    this.recurring = options.recurring ?? false
    this.name = options.name ?? `copas_timer_${++timerIds}`
    const thread: ThreadImpl = runtime.makeThread(this.name, "idle")
    const scope = Scope.makeUnsafe()
    const callback = options.callback
    this.timer = Effect.runSync(Scope.provide(
      SyncTimer.make({
        delay: ms(this.delay),
        recurring: this.recurring,
        initialDelay: ms(options.initial_delay ?? this.delay),
        callback: () =>
          Effect.suspend(() => {
            if (!this.recurring) this.disarm()
            return runtime.runTurn(thread, callback, [this, options.params], "idle", options.errorhandler)
          })
      }),
      scope
    ))
    this.setArmed()
  }

  private setArmed(): void {
    if (this.armed) return
    this.armed = true
    this.runtime.timers++
  }

  private disarm(): void {
    if (!this.armed) return
    this.armed = false
    this.runtime.timers--
    this.runtime.notify()
  }

  /** Arms the timer (first run after `initialDelay`, default `delay`); throws `"already armed"`. */
  arm(initialDelay = this.delay): this {
    if (this.armed) throw copasError("already armed")
    this.setArmed()
    Effect.runSync(this.timer.arm(ms(initialDelay)))
    return this
  }

  /** Cancels the timer; throws `"not armed"` (also after a one-shot has fired). */
  cancel(): this {
    if (!this.armed) throw copasError("not armed")
    this.disarm()
    Effect.runSync(this.timer.cancel)
    return this
  }
}

// =============================================================================
// Future
// =============================================================================

/**
 * What `future.try()` gives: pending, or a success with the value, or an
 * error with the error.
 *
 * **Example** (Polling a future)
 *
 * ```ts
 * const [state, value] = future.try()
 * if (state === SUCCESS) console.log(value)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type FutureState = readonly [typeof PENDING] | readonly [typeof SUCCESS, unknown] | readonly [typeof ERROR, unknown]

/**
 * `future.try()`'s first value while the thread runs.
 *
 * ```ts
 * future.try()[0] === PENDING // => true while it runs
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const PENDING = false

/**
 * `future.try()`'s first value after a success.
 *
 * ```ts
 * future.try()[0] === SUCCESS // => true once it returned
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const SUCCESS = true

/**
 * `future.try()`'s first value after an error.
 *
 * ```ts
 * future.try()[0] === ERROR // => true once it threw
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const ERROR = "error"

/**
 * Copas `copas.future`: a thread whose result can be awaited, many times
 * and from many threads. Calling the future is `get`.
 *
 * **Example** (Two lookups in parallel)
 *
 * ```ts
 * const a = copas.future.addthread(lookup, "a")
 * const b = copas.future.addthread(lookup, "b")
 * const [okA, ra] = await a.get()
 * const [okB, rb] = await b()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Future {
  (): Promise<readonly [true, unknown] | readonly [false, unknown]>
  /** Like Lua's `pcall`: `[true, value]` or `[false, error]` (`"cancelled"` after `cancel`). */
  get(): Promise<readonly [true, unknown] | readonly [false, unknown]>
  /** `[PENDING]`, `[SUCCESS, value]` or `[ERROR, error]`, without waiting. */
  try(): FutureState
  /** Cancels a pending future (true), or does nothing to a finished one (false). */
  cancel(): boolean
  /** The thread. */
  readonly thread: Thread
}

/**
 * Starts a future: `fn(...args)` in a new thread.
 *
 * **Example** (Starting one)
 *
 * ```ts
 * const f = makeFuture(runtime, "lookup", lookup, ["a"])
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeFuture = (
  runtime: Runtime,
  name: string | undefined,
  fn: Body,
  args: ReadonlyArray<unknown>
): Future => {
  const done = Deferred.makeUnsafe<readonly [true, unknown] | readonly [false, unknown]>()
  let state: FutureState = [PENDING]
  const thread = runtime.spawn(fn, args, { name, defer: true, errorHandler: () => undefined })
  const settle = (result: readonly [true, unknown] | readonly [false, unknown]) => {
    state = result[0] ? [SUCCESS, result[1]] : [ERROR, result[1]]
    Deferred.doneUnsafe(done, Exit.succeed(result))
  }
  thread.onEnd = (exit) => {
    if (state[0] !== PENDING) return
    if (exit._tag === "Success") return settle([true, exit.value])
    const reason = exit.cause.reasons[0]
    settle([false, reason?._tag === "Fail" ? reason.error : reason?._tag === "Die" ? reason.defect : "cancelled"])
  }
  const get = () => runtime.call(() => Deferred.await(done), "park")
  return Object.assign(get, {
    get,
    try: () => state,
    cancel: () => {
      if (state[0] !== PENDING) return false
      settle([false, "cancelled"])
      runtime.remove(thread)
      return true
    },
    thread
  })
}
