/**
 * Fiber-aware locks with Copas semantics.
 *
 * A `Lock` has at most one owner fiber. Acquisitions by the owner nest (the
 * lock is reentrant by default) and need as many releases. Other fibers wait in
 * strict FIFO order: a release hands the lock straight to the longest waiter,
 * so a newcomer never overtakes a fiber already in line. Waiters may time out
 * (the error carries the time waited), `destroy` fails every waiter and every
 * later call, and an interrupted waiter or holder never leaves the lock taken:
 * `withLock` releases on every exit, and a lock taken with `get` is released
 * when its owner fiber ends.
 *
 * Copas names map to `LockError` reasons: `LockTimeout` ("timeout") is
 * `"Timeout"`, `LockDestroyed` ("destroyed") is `"Destroyed"`, `NotOwner`
 * ("cannot release a lock not owned") is `"NotOwner"`, and "lock is not
 * re-entrant" is `"NotReentrant"`.
 *
 * Only waiters allocate: an uncontended acquire and release touch a few
 * fields. A lock taken with `get` is freed if its owner fiber ends holding it:
 * each fiber that uses `get` gets one exit observer, however many locks it
 * takes, and a released lock keeps no hold on the fiber.
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
 * Why a lock operation failed.
 *
 * **Example** (Branching on the reason)
 *
 * ```ts
 * import { Lock } from "fiberloop/sync"
 *
 * const retryable = (reason: Lock.LockErrorReason): boolean => reason === "Timeout"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type LockErrorReason = "Timeout" | "Destroyed" | "NotOwner" | "NotReentrant"

/**
 * The one error of this module; `reason` says what happened and `waited` how
 * long (milliseconds) the caller waited before it happened.
 *
 * **Example** (Reacting to a timeout)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Lock } from "fiberloop/sync"
 *
 * const tryLock = (lock: Lock.Lock) =>
 *   lock.get("100 millis").pipe(
 *     Effect.catchTag("LockError", (e) => Effect.succeed(e.reason === "Timeout" ? -e.waited : 0))
 *   )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class LockError extends Data.TaggedError("LockError")<{
  readonly reason: LockErrorReason
  readonly waited: number
}> {
  override get message(): string {
    switch (this.reason) {
      case "Timeout":
        return `lock timed out after ${this.waited} ms`
      case "Destroyed":
        return "lock destroyed"
      case "NotOwner":
        return "cannot release a lock not owned"
      case "NotReentrant":
        return "lock is not re-entrant"
    }
  }
}

// =============================================================================
// Models
// =============================================================================

/**
 * A mutual-exclusion lock owned by one fiber at a time.
 *
 * **Example** (Serialising a critical section)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Lock } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.make()
 *   let n = 0
 *   const bump = lock.withLock(Effect.sync(() => ++n))
 *   yield* Effect.all([bump, bump, bump], { concurrency: "unbounded" })
 *   return n // => 3
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Lock {
  /**
   * Acquires the lock, waiting in FIFO order, and succeeds with the
   * milliseconds waited. The owner re-acquiring nests (or fails with
   * `NotReentrant` on a non-reentrant lock). `timeout` overrides the lock's
   * default; `0` fails at once when the lock is taken.
   */
  get(timeout?: Duration.Input): Effect.Effect<number, LockError>
  /** Releases one acquisition; the last one hands the lock to the next waiter. */
  readonly release: Effect.Effect<void, LockError>
  /** Fails every waiter, and every later `get`/`release`, with `Destroyed`. */
  readonly destroy: Effect.Effect<void>
  /** Runs `effect` holding the lock, released on every exit. */
  withLock<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | LockError, R>
  /** Whether some fiber holds the lock. */
  readonly locked: Effect.Effect<boolean>
  /** How many fibers wait for the lock. */
  readonly waiting: Effect.Effect<number>
}

/**
 * Options for {@link make}.
 *
 * **Example** (Copas defaults)
 *
 * ```ts
 * import { Lock } from "fiberloop/sync"
 *
 * // copas.lock.new() waits at most 10 seconds and is reentrant.
 * const copasLike: Lock.LockOptions = { timeout: "10 seconds", reentrant: true }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface LockOptions {
  /** Default `get` timeout; waits forever when omitted (Copas defaults to 10 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** Whether the owner may acquire again (nesting); default `true`. */
  readonly reentrant?: boolean | undefined
}

// =============================================================================
// Implementation
// =============================================================================

const GRANTED = 1
const DONE = 2

const exitZero = Exit.succeed(0)
const exitVoid = Exit.void

class Waiter extends TimedWaiter<number, LockError> {}

const fail = (reason: LockErrorReason, waited = 0) => Exit.fail(new LockError({ reason, waited }))


// The locks one fiber holds through `get`, freed if the fiber ends holding
// them. One observer per fiber however many locks it takes, and the locks are
// an intrusive list, so a `get` and its release allocate nothing and a lock
// leaves the list (and the fiber) when it is released.
class Holder {
  head: LockImpl | undefined = undefined
  readonly fiber: Fiber.Fiber<unknown, unknown>
  constructor(fiber: Fiber.Fiber<unknown, unknown>) {
    this.fiber = fiber
  }
  readonly onExit = (): void => {
    let lock = this.head
    while (lock !== undefined) {
      const next = lock.next
      lock.ownerEnded()
      lock = next
    }
  }
  link(lock: LockImpl): void {
    lock.next = this.head
    if (this.head !== undefined) this.head.prev = lock
    this.head = lock
    lock.linked = true
  }
  unlink(lock: LockImpl): void {
    if (lock.prev !== undefined) lock.prev.next = lock.next
    else this.head = lock.next
    if (lock.next !== undefined) lock.next.prev = lock.prev
    lock.prev = lock.next = undefined
    lock.linked = false
  }
}

const holders = new WeakMap<Fiber.Fiber<unknown, unknown>, Holder>()

const holderOf = (fiber: Fiber.Fiber<unknown, unknown>): Holder => {
  let holder = holders.get(fiber)
  if (holder === undefined) {
    holder = new Holder(fiber)
    holders.set(fiber, holder)
    fiber.addObserver(holder.onExit)
  }
  return holder
}

class LockImpl implements Lock {
  owner: Fiber.Fiber<unknown, unknown> | undefined = undefined
  depth = 0
  destroyed = false
  readonly waiters = new Set<Waiter>()
  readonly reentrant: boolean
  readonly timeout: number
  // While the owner holds the lock through `get`, the lock is linked into the
  // owner's Holder (`prev`/`next`). `holder` stays after the release, so a
  // fiber looping on get/release finds its Holder without a lookup.
  holder: Holder | undefined = undefined
  linked = false
  prev: LockImpl | undefined = undefined
  next: LockImpl | undefined = undefined

  readonly release: Effect.Effect<void, LockError>
  readonly destroy: Effect.Effect<void>
  readonly locked: Effect.Effect<boolean>
  readonly waiting: Effect.Effect<number>
  private readonly getDefault: Effect.Effect<number, LockError>

  constructor(options?: LockOptions | undefined) {
    this.reentrant = options?.reentrant ?? true
    this.timeout = timeoutMillis(options?.timeout, Infinity)
    this.getDefault = Effect.suspend(() => this.acquire(Fiber.getCurrent()!, this.timeout))
    this.release = Effect.suspend(() => this.releaseFor(Fiber.getCurrent()!))
    this.destroy = Effect.sync(() => this.destroyUnsafe())
    this.locked = Effect.sync(() => this.owner !== undefined)
    this.waiting = Effect.sync(() => this.waiters.size)
  }

  get(timeout?: Duration.Input): Effect.Effect<number, LockError> {
    if (timeout === undefined) return this.getDefault
    return Effect.suspend(() => this.acquire(Fiber.getCurrent()!, timeoutMillis(timeout, this.timeout)))
  }

  withLock<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | LockError, R> {
    return Effect.uninterruptibleMask((restore) => {
      const fiber = Fiber.getCurrent()!
      if (this.owner === undefined && !this.destroyed) {
        this.owner = fiber
        this.depth = 1
        return Effect.onExitPrimitive(restore(effect), this.releaseOnExit, true)
      }
      const acquired = this.acquireOrWait(fiber, this.timeout, restore, false)
      return acquired === exitZero
        ? Effect.onExitPrimitive(restore(effect), this.releaseOnExit, true)
        : Effect.flatMap(acquired, () => Effect.onExitPrimitive(restore(effect), this.releaseOnExit, true))
    })
  }

  // ---------------------------------------------------------------------------

  readonly releaseOnExit = (): undefined => {
    const fiber = Fiber.getCurrent()
    if (fiber !== undefined && this.owner === fiber) this.releaseOne()
    return undefined
  }

  // The owner ended holding the lock (taken with `get`): free it.
  ownerEnded(): void {
    this.depth = 0
    this.handOff()
  }

  acquire(fiber: Fiber.Fiber<unknown, unknown>, timeout: number): Effect.Effect<number, LockError> {
    const result = this.acquireOrWait(fiber, timeout, undefined, true)
    if (result === exitZero) this.watch(fiber)
    return result
  }

  acquireOrWait(
    fiber: Fiber.Fiber<unknown, unknown>,
    timeout: number,
    restore: (<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined,
    watch: boolean
  ): Effect.Effect<number, LockError> {
    if (this.destroyed) return fail("Destroyed")
    if (this.owner === undefined) {
      this.owner = fiber
      this.depth = 1
      return exitZero
    }
    if (this.owner === fiber) {
      if (!this.reentrant) return fail("NotReentrant")
      this.depth++
      return exitZero
    }
    if (timeout <= 0) return fail("Timeout")
    return this.wait(fiber, timeout, restore, watch)
  }

  wait(
    fiber: Fiber.Fiber<unknown, unknown>,
    timeout: number,
    restore: (<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined,
    watch: boolean
  ): Effect.Effect<number, LockError> {
    const waiter = new Waiter(fiber)
    this.waiters.add(waiter)
    if (Number.isFinite(timeout)) {
      waiter.timer = Effect.runForkWith(fiber.context)(
        Effect.flatMap(Effect.sleep(timeout), () => Effect.sync(() => this.expire(waiter)))
      )
    }
    const awaited = Deferred.await(waiter.deferred)
    return Effect.onExitPrimitive(restore ? restore(awaited) : awaited, (exit) => {
      waiter.timer?.interruptUnsafe()
      if (exit._tag === "Success") {
        if (watch) this.watch(fiber)
      } else if (waiter.state === WAITING) {
        waiter.state = DONE
        this.waiters.delete(waiter)
      } else if (waiter.state === GRANTED && this.owner === fiber) {
        // Interrupted between the hand-off and resuming: pass the lock on.
        waiter.state = DONE
        this.depth = 0
        this.handOff()
      }
      return undefined
    }, restore !== undefined)
  }

  expire(waiter: Waiter): void {
    if (waiter.state !== WAITING) return
    waiter.state = DONE
    this.waiters.delete(waiter)
    Deferred.doneUnsafe(waiter.deferred, fail("Timeout", waiter.waited()))
  }

  // Called with the owner only; a nested `get` finds the lock linked already.
  watch(fiber: Fiber.Fiber<unknown, unknown>): void {
    if (this.linked) return
    let holder = this.holder
    if (holder === undefined || holder.fiber !== fiber) holder = this.holder = holderOf(fiber)
    holder.link(this)
  }

  releaseFor(fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void, LockError> {
    if (this.destroyed) {
      if (this.owner === fiber) this.releaseOne()
      return fail("Destroyed")
    }
    if (this.owner !== fiber) return fail("NotOwner")
    this.releaseOne()
    return exitVoid
  }

  releaseOne(): void {
    if (--this.depth > 0) return
    this.handOff()
  }

  // The lock is free: stop watching the last owner, and give the lock to the
  // longest waiter, or leave it unowned.
  handOff(): void {
    if (this.linked) this.holder!.unlink(this)
    if (this.waiters.size > 0 && !this.destroyed) {
      for (const waiter of this.waiters) {
        this.waiters.delete(waiter)
        waiter.state = GRANTED
        this.owner = waiter.fiber
        this.depth = 1
        wake(waiter, Exit.succeed(waiter.waited()))
        return
      }
    }
    this.owner = undefined
    this.depth = 0
  }

  destroyUnsafe(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const waiter of this.waiters) {
      waiter.state = DONE
      wake(waiter, fail("Destroyed", waiter.waited()), true)
    }
    this.waiters.clear()
  }
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * Creates a lock synchronously, for use outside `Effect`.
 *
 * **Example** (A module-level lock)
 *
 * ```ts
 * import { Lock } from "fiberloop/sync"
 *
 * const lock = Lock.makeUnsafe({ timeout: "5 seconds" })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnsafe = (options?: LockOptions | undefined): Lock => new LockImpl(options)

/**
 * Creates a lock. Copas: `copas.lock.new(timeout, not_reentrant)`.
 *
 * **Example** (A non-reentrant lock with a default timeout)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Lock } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.make({ timeout: "1 second", reentrant: false })
 *   const waited = yield* lock.get()
 *   yield* lock.release
 *   return waited // => 0
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: LockOptions | undefined): Effect.Effect<Lock> =>
  Effect.sync(() => new LockImpl(options))

// =============================================================================
// Combinators
// =============================================================================

/**
 * Runs an effect while holding the lock, releasing it on every exit (success,
 * failure or interruption). Data-first or data-last.
 *
 * **Example** (Guarding a shared counter)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Lock } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.make()
 *   return yield* Effect.succeed(1).pipe(Lock.withLock(lock)) // => 1
 * })
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const withLock: {
  (self: Lock): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LockError, R>
  <A, E, R>(self: Lock, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | LockError, R>
} = ((self: Lock, effect?: Effect.Effect<any, any, any>) =>
  effect === undefined ? (e: Effect.Effect<any, any, any>) => self.withLock(e) : self.withLock(effect)) as any

/**
 * Acquires the lock; see {@link Lock.get}. Copas: `lock:get(timeout)`.
 *
 * **Example** (Acquiring with a timeout)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Lock } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.make()
 *   yield* Lock.get(lock, "1 second") // => 0 (milliseconds waited)
 *   yield* Lock.release(lock)
 * })
 * ```
 *
 * @category acquiring
 * @since 0.1.0
 */
export const get = (self: Lock, timeout?: Duration.Input): Effect.Effect<number, LockError> => self.get(timeout)

/**
 * Releases one acquisition; fails with `NotOwner` for any fiber but the owner.
 * Copas: `lock:release()`.
 *
 * **Example** (Releasing from another fiber fails)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Fiber from "effect/Fiber"
 * import { Lock } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.make()
 *   yield* lock.get()
 *   const error = yield* Effect.forkChild(Effect.flip(Lock.release(lock))).pipe(Effect.flatMap(Fiber.join))
 *   return error.reason // => "NotOwner"
 * })
 * ```
 *
 * @category acquiring
 * @since 0.1.0
 */
export const release = (self: Lock): Effect.Effect<void, LockError> => self.release

/**
 * Destroys the lock: waiters and later calls fail with `Destroyed`.
 * Copas: `lock:destroy()`.
 *
 * **Example** (Destroying wakes waiters)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Lock } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.make()
 *   yield* Lock.destroy(lock)
 *   return (yield* Effect.flip(lock.get())).reason // => "Destroyed"
 * })
 * ```
 *
 * @category destroying
 * @since 0.1.0
 */
export const destroy = (self: Lock): Effect.Effect<void> => self.destroy
