/**
 * Counting semaphores with Copas semantics: a maximum, timeouts, destroy and
 * strict FIFO.
 *
 * A `Semaphore` holds between `0` and `max` permits. `take(n)` waits until `n`
 * permits are free, in strict arrival order: a later request, however small,
 * never overtakes an earlier, larger one (unlike Effect's own `Semaphore`).
 * `give(n)` returns permits and fails with `TooManyPermits`, changing nothing,
 * when the count would exceed `max`. Waiters may time out; `destroy` fails every
 * waiter and every later call. A waiter interrupted after its permits were
 * granted gives them back, and `withPermits` returns its permits on every exit,
 * so interruption never loses a permit.
 *
 * Copas names map to `SemaphoreError` reasons: `SemaphoreTimeout` ("timeout")
 * is `"Timeout"`, `SemaphoreDestroyed` ("destroyed") is `"Destroyed"` and
 * `TooManyPermits` ("too many") is `"TooManyPermits"`. Unlike Copas, a `give`
 * beyond `max` is refused whole rather than capped.
 *
 * Only waiters allocate: an uncontended take and give touch one counter.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TimedWaiter, timeoutMillis, WAITING, wake } from "./internal/wakeups.ts"

// =============================================================================
// Errors
// =============================================================================

/**
 * Why a semaphore operation failed.
 *
 * **Example** (Branching on the reason)
 *
 * ```ts
 * import { Semaphore } from "fiberloop/sync"
 *
 * const retryable = (reason: Semaphore.SemaphoreErrorReason): boolean => reason === "Timeout"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type SemaphoreErrorReason = "Timeout" | "Destroyed" | "TooManyPermits"

/**
 * The one error of this module; `reason` says what happened and `waited` how
 * long (milliseconds) the caller waited before it happened.
 *
 * **Example** (Giving back too much)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Semaphore } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const sem = yield* Semaphore.make({ max: 2, start: 2 })
 *   return (yield* Effect.flip(sem.give(1))).reason // => "TooManyPermits"
 * })
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class SemaphoreError extends Data.TaggedError("SemaphoreError")<{
  readonly reason: SemaphoreErrorReason
  readonly waited: number
}> {
  override get message(): string {
    switch (this.reason) {
      case "Timeout":
        return `semaphore timed out after ${this.waited} ms`
      case "Destroyed":
        return "semaphore destroyed"
      case "TooManyPermits":
        return "too many permits"
    }
  }
}

// =============================================================================
// Models
// =============================================================================

/**
 * A counting semaphore with a maximum and strict FIFO waiters.
 *
 * **Example** (Bounding concurrency to two)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Semaphore } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const sem = yield* Semaphore.make({ max: 2, start: 2 })
 *   const job = (i: number) => sem.withPermits(1)(Effect.succeed(i))
 *   return yield* Effect.all([job(1), job(2), job(3)], { concurrency: "unbounded" }) // => [1, 2, 3]
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Semaphore {
  /** The most permits the semaphore can hold. */
  readonly max: number
  /**
   * Takes `n` permits (default 1), waiting in strict FIFO order. Fails at once
   * with `TooManyPermits` when `n > max`; `timeout` overrides the default, and
   * `0` fails at once unless the permits are free.
   */
  take(n?: number, timeout?: Duration.Input): Effect.Effect<void, SemaphoreError>
  /** Gives `n` permits back (default 1); refused whole beyond `max`. */
  give(n?: number): Effect.Effect<void, SemaphoreError>
  /** The permits available now. */
  readonly count: Effect.Effect<number>
  /** The permits requested by the fibers waiting now. */
  readonly waiting: Effect.Effect<number>
  /** Fails every waiter, and every later `take`/`give`, with `Destroyed`. */
  readonly destroy: Effect.Effect<void>
  /** Runs an effect holding `n` permits, given back on every exit. */
  withPermits(n: number): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SemaphoreError, R>
}

/**
 * Options for {@link make}.
 *
 * **Example** (Copas defaults)
 *
 * ```ts
 * import { Semaphore } from "fiberloop/sync"
 *
 * // copas.semaphore.new(5) starts empty and waits at most 10 seconds.
 * const copasLike: Semaphore.SemaphoreOptions = { max: 5, start: 0, timeout: "10 seconds" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SemaphoreOptions {
  /** The most permits the semaphore can hold (at least 1). */
  readonly max: number
  /** The permits available at first; default `0` (as in Copas). */
  readonly start?: number | undefined
  /** Default `take` timeout; waits forever when omitted (Copas defaults to 10 seconds). */
  readonly timeout?: Duration.Input | undefined
}

// =============================================================================
// Implementation
// =============================================================================

const GRANTED = 1
const DONE = 2

const exitVoid = Exit.void

class Waiter extends TimedWaiter<void, SemaphoreError> {
  readonly n: number
  constructor(fiber: Fiber.Fiber<unknown, unknown>, n: number) {
    super(fiber)
    this.n = n
  }
}

const fail = (reason: SemaphoreErrorReason, waited = 0) => Exit.fail(new SemaphoreError({ reason, waited }))


const checkPermits = (n: number): number => {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`permits must be a non-negative integer, got ${n}`)
  return n
}

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

class SemaphoreImpl implements Semaphore {
  free: number
  requested = 0
  destroyed = false
  readonly max: number
  readonly timeout: number
  readonly waiters = new Set<Waiter>()

  readonly count: Effect.Effect<number>
  readonly waiting: Effect.Effect<number>
  readonly destroy: Effect.Effect<void>
  private readonly take1: Effect.Effect<void, SemaphoreError>
  private readonly give1: Effect.Effect<void, SemaphoreError>

  constructor(options: SemaphoreOptions) {
    if (!(options.max >= 1)) throw new RangeError(`max must be at least 1, got ${options.max}`)
    this.max = options.max
    this.free = checkPermits(options.start ?? 0)
    if (this.free > this.max) throw new RangeError(`start (${this.free}) exceeds max (${this.max})`)
    this.timeout = timeoutMillis(options.timeout, Infinity)
    this.take1 = Effect.suspend(() => this.takeOrWait(1, this.timeout, undefined))
    this.give1 = Effect.suspend(() => this.giveUnsafe(1))
    this.count = Effect.sync(() => this.free)
    this.waiting = Effect.sync(() => this.requested)
    this.destroy = Effect.sync(() => this.destroyUnsafe())
  }

  take(n?: number, timeout?: Duration.Input): Effect.Effect<void, SemaphoreError> {
    if ((n === undefined || n === 1) && timeout === undefined) return this.take1
    return Effect.suspend(() => this.takeOrWait(checkPermits(n ?? 1), timeoutMillis(timeout, this.timeout), undefined))
  }

  give(n?: number): Effect.Effect<void, SemaphoreError> {
    if (n === undefined || n === 1) return this.give1
    return Effect.suspend(() => this.giveUnsafe(checkPermits(n)))
  }

  withPermits(n: number): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SemaphoreError, R> {
    const giveBack = (): undefined => {
      this.returnPermits(n)
      return undefined
    }
    return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.uninterruptibleMask((restore) => {
        checkPermits(n)
        if (this.waiters.size === 0 && this.free >= n && !this.destroyed) {
          this.free -= n
          return Effect.onExitPrimitive(restore(effect), giveBack, true)
        }
        return Effect.flatMap(
          this.takeOrWait(n, this.timeout, restore),
          () => Effect.onExitPrimitive(restore(effect), giveBack, true)
        )
      })
  }

  // ---------------------------------------------------------------------------

  takeOrWait(n: number, timeout: number, restore: Restore | undefined): Effect.Effect<void, SemaphoreError> {
    if (this.destroyed) return fail("Destroyed")
    if (n > this.max) return fail("TooManyPermits")
    if (this.waiters.size === 0 && this.free >= n) {
      this.free -= n
      return exitVoid
    }
    if (timeout <= 0) return fail("Timeout")
    const fiber = Fiber.getCurrent()!
    const waiter = new Waiter(fiber, n)
    this.waiters.add(waiter)
    this.requested += n
    if (Number.isFinite(timeout)) {
      waiter.timer = Effect.runForkWith(fiber.context)(
        Effect.flatMap(Effect.sleep(timeout), () => Effect.sync(() => this.expire(waiter)))
      )
    }
    const awaited = Deferred.await(waiter.deferred)
    return Effect.onExitPrimitive(restore ? restore(awaited) : awaited, (exit) => {
      waiter.timer?.interruptUnsafe()
      if (exit._tag === "Failure") {
        if (waiter.state === WAITING) {
          this.dequeue(waiter)
          this.grant()
        } else if (waiter.state === GRANTED) {
          // Interrupted between the grant and resuming: give the permits back.
          waiter.state = DONE
          this.returnPermits(waiter.n)
        }
      }
      return undefined
    }, restore !== undefined)
  }

  dequeue(waiter: Waiter): void {
    waiter.state = DONE
    this.waiters.delete(waiter)
    this.requested -= waiter.n
  }

  expire(waiter: Waiter): void {
    if (waiter.state !== WAITING) return
    this.dequeue(waiter)
    Deferred.doneUnsafe(waiter.deferred, fail("Timeout", waiter.waited()))
    // The expired waiter may have been blocking smaller requests behind it.
    this.grant()
  }

  giveUnsafe(n: number): Effect.Effect<void, SemaphoreError> {
    if (this.destroyed) return fail("Destroyed")
    if (this.free + n > this.max) return fail("TooManyPermits")
    this.free += n
    if (this.waiters.size > 0) this.grant()
    return exitVoid
  }

  // Returns permits held by `withPermits` or an interrupted grantee. A give
  // beyond `max` can only come from an unbalanced manual `give`; cap it.
  returnPermits(n: number): void {
    if (this.destroyed) return
    this.free = Math.min(this.max, this.free + n)
    if (this.waiters.size > 0) this.grant()
  }

  // Serves waiters in arrival order while the head fits in the free permits.
  grant(): void {
    // Re-reads the head each time: a waiter resumed inline may change the queue.
    while (this.waiters.size > 0) {
      const waiter = this.waiters.values().next().value!
      if (waiter.n > this.free) return
      this.dequeue(waiter)
      waiter.state = GRANTED
      this.free -= waiter.n
      wake(waiter, exitVoid)
    }
  }

  destroyUnsafe(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const waiter of this.waiters) {
      waiter.state = DONE
      wake(waiter, fail("Destroyed", waiter.waited()), true)
    }
    this.waiters.clear()
    this.requested = 0
  }
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * Creates a semaphore synchronously, for use outside `Effect`.
 *
 * **Example** (A module-level pool of ten permits)
 *
 * ```ts
 * import { Semaphore } from "fiberloop/sync"
 *
 * const pool = Semaphore.makeUnsafe({ max: 10, start: 10 })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnsafe = (options: SemaphoreOptions): Semaphore => new SemaphoreImpl(options)

/**
 * Creates a semaphore. Copas: `copas.semaphore.new(max, start, timeout)`.
 *
 * **Example** (Waiting for a permit that is given later)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Fiber from "effect/Fiber"
 * import { Semaphore } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const sem = yield* Semaphore.make({ max: 1 })
 *   const taker = yield* Effect.forkChild(sem.take())
 *   yield* sem.give()
 *   yield* Fiber.join(taker)
 *   return yield* sem.count // => 0
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: SemaphoreOptions): Effect.Effect<Semaphore> =>
  Effect.sync(() => new SemaphoreImpl(options))

// =============================================================================
// Combinators
// =============================================================================

/**
 * Runs an effect holding `n` permits, given back on every exit. Data-first or
 * data-last (`effect.pipe(Semaphore.withPermits(sem, 1))`).
 *
 * **Example** (One at a time)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Semaphore } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const sem = yield* Semaphore.make({ max: 1, start: 1 })
 *   return yield* Effect.succeed("done").pipe(Semaphore.withPermits(sem, 1)) // => "done"
 * })
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const withPermits: {
  (self: Semaphore, n: number): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SemaphoreError, R>
  <A, E, R>(self: Semaphore, n: number, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SemaphoreError, R>
} = ((self: Semaphore, n: number, effect?: Effect.Effect<any, any, any>) =>
  effect === undefined ? self.withPermits(n) : self.withPermits(n)(effect)) as any

/**
 * Takes permits; see {@link Semaphore.take}. Copas: `sema:take(n, timeout)`.
 *
 * **Example** (Taking with a timeout)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Semaphore } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const sem = yield* Semaphore.make({ max: 3 })
 *   const error = yield* Effect.flip(Semaphore.take(sem, 1, 0))
 *   return error.reason // => "Timeout"
 * })
 * ```
 *
 * @category permits
 * @since 0.1.0
 */
export const take = (self: Semaphore, n?: number, timeout?: Duration.Input): Effect.Effect<void, SemaphoreError> =>
  self.take(n, timeout)

/**
 * Gives permits back; see {@link Semaphore.give}. Copas: `sema:give(n)`.
 *
 * **Example** (Filling a semaphore)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Semaphore } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const sem = yield* Semaphore.make({ max: 3 })
 *   yield* Semaphore.give(sem, 3)
 *   return yield* sem.count // => 3
 * })
 * ```
 *
 * @category permits
 * @since 0.1.0
 */
export const give = (self: Semaphore, n?: number): Effect.Effect<void, SemaphoreError> => self.give(n)

/**
 * Destroys the semaphore: waiters and later calls fail with `Destroyed`.
 * Copas: `sema:destroy()`.
 *
 * **Example** (Destroying wakes waiters)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Fiber from "effect/Fiber"
 * import { Semaphore } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const sem = yield* Semaphore.make({ max: 1 })
 *   const taker = yield* Effect.forkChild(Effect.flip(sem.take()))
 *   yield* Effect.yieldNow
 *   yield* Semaphore.destroy(sem)
 *   return (yield* Fiber.join(taker)).reason // => "Destroyed"
 * })
 * ```
 *
 * @category destroying
 * @since 0.1.0
 */
export const destroy = (self: Semaphore): Effect.Effect<void> => self.destroy
