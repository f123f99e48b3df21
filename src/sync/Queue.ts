/**
 * Copas work queues: push, pop with a timeout, workers, stop and finish.
 *
 * A `Queue<A>` is a FIFO of items, unbounded by default (as in Copas) or
 * bounded with `capacity`, in which case `push` waits for room. `pop` waits
 * for an item, optionally with a timeout. Workers (`addWorker`) are fibers that
 * pop items one by one and hand each to a function; a failing item is reported
 * and the worker goes on. `stop` refuses new items while the rest drains;
 * once empty the queue is done and every `pop` (so every worker) ends.
 * `finish` stops and then waits until the queue is drained and every worker has
 * finished its last item. `destroy`, or closing the queue's scope, drops what
 * is left at once.
 *
 * Copas names map to `QueueError` reasons: "stopping" and "destroyed" (the
 * DESIGN's `QueueStopped`) are `"Stopped"`, "timeout" is `"Timeout"`. An
 * interrupted `pop` never loses an item: one handed to it goes back to the
 * head of the queue.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as MutableList from "effect/MutableList"
import type * as Scope from "effect/Scope"
import { BaseWaiter, first, timeoutMillis, WAITING, wake } from "./internal/wakeups.ts"

// =============================================================================
// Errors
// =============================================================================

/**
 * Why a queue operation failed.
 *
 * **Example** (Branching on the reason)
 *
 * ```ts
 * import { Queue } from "fiberloop/sync"
 *
 * const isTimeout = (reason: Queue.QueueErrorReason): boolean => reason === "Timeout"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type QueueErrorReason = "Stopped" | "Timeout"

/**
 * The one error of this module: the queue was stopped (or destroyed), or a
 * `pop`/`finish` timed out.
 *
 * **Example** (Popping with a timeout)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Queue } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const q = yield* Queue.make<string>()
 *   return (yield* Effect.flip(q.pop(0))).reason // => "Timeout"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class QueueError extends Data.TaggedError("QueueError")<{
  readonly reason: QueueErrorReason
}> {
  override get message(): string {
    return this.reason === "Stopped" ? "queue stopped" : "queue timed out"
  }
}

// =============================================================================
// Models
// =============================================================================

/**
 * A Copas work queue.
 *
 * **Example** (A queue with one worker)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Queue } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const q = yield* Queue.make<number>()
 *   let sum = 0
 *   yield* q.addWorker((n) => Effect.sync(() => { sum += n }))
 *   yield* q.push(1)
 *   yield* q.push(2)
 *   yield* q.finish()
 *   return sum // => 3
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Queue<in out A> {
  /** The most items held at once (`Infinity` when unbounded). */
  readonly capacity: number
  /** Appends an item, waiting for room when bounded; fails once stopped. */
  push(item: A): Effect.Effect<void, QueueError>
  /** Takes the oldest item, waiting up to `timeout` (forever by default; `0` never waits). */
  pop(timeout?: Duration.Input): Effect.Effect<A, QueueError>
  /**
   * Stops, then waits until drained and every worker is done; on timeout
   * destroys. Not from inside a worker, which would wait for itself.
   */
  finish(timeout?: Duration.Input): Effect.Effect<void, QueueError>
  /** Refuses new items; what is queued still drains. */
  readonly stop: Effect.Effect<void>
  /** Drops every item and fails every waiting `push`/`pop` at once. */
  readonly destroy: Effect.Effect<void>
  /** Starts a worker fiber that handles items until the queue is done. */
  addWorker<E, R>(
    handle: (item: A) => Effect.Effect<void, E, R>,
    options?: WorkerOptions<E, R> | undefined
  ): Effect.Effect<Fiber.Fiber<void>, never, R>
  /** How many items are queued. */
  readonly length: Effect.Effect<number>
  /** How many workers are running. */
  readonly workers: Effect.Effect<number>
}

/**
 * Options for {@link make}.
 *
 * **Example** (A bounded queue)
 *
 * ```ts
 * import { Queue } from "fiberloop/sync"
 *
 * const options: Queue.QueueOptions = { capacity: 1000 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface QueueOptions {
  /** The most items held at once; unbounded (as in Copas) when omitted. */
  readonly capacity?: number | undefined
}

/**
 * Options for `addWorker`.
 *
 * **Example** (Counting failures)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Queue } from "fiberloop/sync"
 *
 * let failures = 0
 * const options: Queue.WorkerOptions<string, never> = {
 *   onError: () => Effect.sync(() => void failures++)
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkerOptions<E, R> {
  /** Called with the cause when handling an item fails; logs it by default. */
  readonly onError?: ((cause: Cause.Cause<E>) => Effect.Effect<void, never, R>) | undefined
}

// =============================================================================
// Implementation
// =============================================================================

const OPEN = 0
const STOPPING = 1
const DONE = 2

const HANDED = 1
const SETTLED = 2

const exitVoid = Exit.void
const stopped = () => Exit.fail(new QueueError({ reason: "Stopped" }))
const timedOut = () => Exit.fail(new QueueError({ reason: "Timeout" }))

class Waiter<A> extends BaseWaiter<any, QueueError> {
  // The item handed to a waiting popper, until it resumes.
  handed: A | undefined = undefined
  readonly item: A
  constructor(fiber: Fiber.Fiber<unknown, unknown>, item: A) {
    super(fiber)
    this.item = item
  }
}



class QueueImpl<A> implements Queue<A> {
  readonly items = MutableList.make<A>()
  readonly poppers = new Set<Waiter<A>>()
  readonly pushers = new Set<Waiter<A>>()
  readonly running = new Set<Fiber.Fiber<void>>()
  readonly done = Deferred.makeUnsafe<void>()
  readonly capacity: number
  readonly scope: Scope.Scope
  state = OPEN
  // Items handed to a popper that has not resumed yet.
  inFlight = 0

  readonly stop: Effect.Effect<void>
  readonly destroy: Effect.Effect<void>
  readonly length: Effect.Effect<number>
  readonly workers: Effect.Effect<number>
  private readonly popForever: Effect.Effect<A, QueueError>

  constructor(scope: Scope.Scope, options?: QueueOptions | undefined) {
    this.scope = scope
    this.capacity = options?.capacity ?? Infinity
    if (!(this.capacity >= 1)) throw new RangeError(`capacity must be >= 1, got ${options?.capacity}`)
    this.popForever = Effect.suspend(() => this.popUnsafe(Infinity))
    this.stop = Effect.sync(() => this.stopUnsafe())
    this.destroy = Effect.sync(() => this.destroyUnsafe())
    this.length = Effect.sync(() => this.items.length)
    this.workers = Effect.sync(() => this.running.size)
  }

  push(item: A): Effect.Effect<void, QueueError> {
    return Effect.suspend(() => {
      if (this.state !== OPEN) return stopped()
      if (this.poppers.size > 0) {
        this.hand(first(this.poppers), item)
        return exitVoid
      }
      if (this.items.length < this.capacity) {
        MutableList.append(this.items, item)
        return exitVoid
      }
      const waiter = new Waiter<A>(Fiber.getCurrent()!, item)
      this.pushers.add(waiter)
      return this.await(waiter, this.pushers, Infinity) as Effect.Effect<any, QueueError>
    })
  }

  pop(timeout?: Duration.Input): Effect.Effect<A, QueueError> {
    if (timeout === undefined) return this.popForever
    return Effect.suspend(() => this.popUnsafe(timeoutMillis(timeout)))
  }

  finish(timeout?: Duration.Input): Effect.Effect<void, QueueError> {
    const drained = Effect.flatMap(
      Effect.andThen(this.stop, Deferred.await(this.done)),
      () => Effect.suspend(() => Fiber.awaitAll(Array.from(this.running)))
    )
    const millis = timeoutMillis(timeout)
    if (!Number.isFinite(millis)) return Effect.asVoid(drained)
    return Effect.timeoutOrElse(Effect.asVoid(drained), {
      duration: millis,
      orElse: () => Effect.suspend(() => {
        this.destroyUnsafe()
        return timedOut()
      })
    })
  }

  addWorker<E, R>(
    handle: (item: A) => Effect.Effect<void, E, R>,
    options?: WorkerOptions<E, R> | undefined
  ): Effect.Effect<Fiber.Fiber<void>, never, R> {
    const onError = options?.onError ?? ((cause: Cause.Cause<E>) => Effect.logError("Queue worker failed", cause))
    const loop: Effect.Effect<void, never, R> = Effect.flatMap(Effect.exit(this.popForever), (popped) => {
      if (popped._tag === "Failure") return Effect.void
      return Effect.flatMap(Effect.exit(Effect.suspend(() => handle(popped.value))), (handled) =>
        handled._tag === "Failure" && !Cause.hasInterruptsOnly(handled.cause)
          ? Effect.flatMap(onError(handled.cause), () => loop)
          : loop)
    })
    return Effect.map(Effect.forkIn(loop, this.scope, { startImmediately: true }), (fiber) => {
      if (fiber.pollUnsafe() === undefined) {
        this.running.add(fiber)
        fiber.addObserver(() => this.running.delete(fiber))
      }
      return fiber
    })
  }

  // ---------------------------------------------------------------------------

  popUnsafe(timeout: number): Effect.Effect<A, QueueError> {
    if (this.items.length > 0) {
      const item = MutableList.take(this.items) as A
      if (this.pushers.size > 0) this.admit()
      else if (this.state === STOPPING) this.checkDone()
      return Exit.succeed(item)
    }
    if (this.state !== OPEN) return stopped()
    if (timeout <= 0) return timedOut()
    const waiter = new Waiter<A>(Fiber.getCurrent()!, undefined as A)
    this.poppers.add(waiter)
    return this.await(waiter, this.poppers, timeout)
  }

  hand(waiter: Waiter<A>, item: A): void {
    this.poppers.delete(waiter)
    waiter.state = HANDED
    waiter.handed = item
    this.inFlight++
    wake(waiter, Exit.succeed(item), true)
  }

  // Moves waiting pushers' items into freed room.
  admit(): void {
    while (this.pushers.size > 0 && this.items.length < this.capacity) {
      const waiter = first(this.pushers)
      this.pushers.delete(waiter)
      waiter.state = SETTLED
      MutableList.append(this.items, waiter.item)
      wake(waiter, exitVoid, true)
    }
  }

  await(waiter: Waiter<A>, set: Set<Waiter<A>>, timeout: number): Effect.Effect<A, QueueError> {
    if (Number.isFinite(timeout)) {
      waiter.timer = Effect.runForkWith(waiter.fiber.context)(
        Effect.flatMap(Effect.sleep(timeout), () =>
          Effect.sync(() => {
            if (waiter.state !== WAITING) return
            waiter.state = SETTLED
            set.delete(waiter)
            Deferred.doneUnsafe(waiter.deferred, timedOut())
          }))
      )
    }
    return Effect.onExitPrimitive(Deferred.await(waiter.deferred), (exit) => {
      waiter.timer?.interruptUnsafe()
      if (waiter.state === WAITING) {
        waiter.state = SETTLED
        set.delete(waiter)
      } else if (waiter.state === HANDED) {
        waiter.state = SETTLED
        this.inFlight--
        // Interrupted before taking the handed item: give it to the next
        // popper, or put it back at the head.
        if (exit._tag === "Failure") this.unpop(waiter.handed as A)
        waiter.handed = undefined
        if (this.state === STOPPING) this.checkDone()
      }
      return undefined
    })
  }

  unpop(item: A): void {
    if (this.state === DONE) return
    if (this.poppers.size > 0) this.hand(first(this.poppers), item)
    else MutableList.prepend(this.items, item)
  }

  stopUnsafe(): void {
    if (this.state !== OPEN) return
    this.state = STOPPING
    for (const waiter of this.pushers) {
      waiter.state = SETTLED
      wake(waiter, stopped(), true)
    }
    this.pushers.clear()
    this.checkDone()
  }

  checkDone(): void {
    if (this.items.length === 0 && this.inFlight === 0) this.finalize()
  }

  destroyUnsafe(): void {
    if (this.state === DONE) return
    MutableList.clear(this.items)
    for (const waiter of this.pushers) {
      waiter.state = SETTLED
      wake(waiter, stopped(), true)
    }
    this.pushers.clear()
    this.finalize()
  }

  finalize(): void {
    this.state = DONE
    for (const waiter of this.poppers) {
      waiter.state = SETTLED
      wake(waiter, stopped(), true)
    }
    this.poppers.clear()
    Deferred.doneUnsafe(this.done, exitVoid)
  }
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * Creates a queue whose workers live in the current scope; closing the scope
 * destroys the queue and interrupts its workers. Copas: `copas.queue.new()`.
 *
 * **Example** (A bounded queue)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Queue } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const q = yield* Queue.make<string>({ capacity: 100 })
 *   yield* q.push("job")
 *   return yield* q.pop() // => "job"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A>(options?: QueueOptions | undefined): Effect.Effect<Queue<A>, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.acquireRelease(
      Effect.sync(() => new QueueImpl<A>(scope, options)),
      (queue) => queue.destroy
    ))

// =============================================================================
// Operations
// =============================================================================

/**
 * Appends an item; see {@link Queue.push}. Copas: `q:push(item)`.
 *
 * **Example** (Pushing after stop fails)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Queue } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const q = yield* Queue.make<number>()
 *   yield* q.stop
 *   return (yield* Effect.flip(Queue.push(q, 1))).reason // => "Stopped"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const push = <A>(self: Queue<A>, item: A): Effect.Effect<void, QueueError> => self.push(item)

/**
 * Takes the oldest item; see {@link Queue.pop}. Copas: `q:pop(timeout)`.
 *
 * **Example** (Popping what was pushed)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Queue } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const q = yield* Queue.make<number>()
 *   yield* q.push(7)
 *   return yield* Queue.pop(q, "1 second") // => 7
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const pop = <A>(self: Queue<A>, timeout?: Duration.Input): Effect.Effect<A, QueueError> => self.pop(timeout)

/**
 * Stops and waits until drained and the workers are done; see
 * {@link Queue.finish}. Copas: `q:finish(timeout)`.
 *
 * **Example** (Waiting for the workers)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Queue } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const q = yield* Queue.make<string>()
 *   const seen: Array<string> = []
 *   yield* q.addWorker((s) => Effect.sync(() => { seen.push(s) }))
 *   yield* q.push("a")
 *   yield* Queue.finish(q, "1 second")
 *   return seen // => ["a"]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const finish = <A>(self: Queue<A>, timeout?: Duration.Input): Effect.Effect<void, QueueError> =>
  self.finish(timeout)
