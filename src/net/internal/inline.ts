/**
 * Connection operations that complete inline: a read the buffer satisfies or
 * a send the kernel takes at once gives its value straight back to the
 * `yield*` in `Effect.gen`, without an `Exit`, an iterator of Effect's, or a
 * trip through the fiber's run loop. An operation that has to wait (or
 * fails) yields the effect that waits (or the failure) as any effect does.
 *
 * An operation is a real, lazy, re-runnable `Effect`: its prototype is
 * `Effect.suspend`'s, so `pipe`, `Effect.map` or `Effect.runPromise` run it
 * through the fiber (its thunk attempts again every run).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { ConnectionError } from "../Errors.ts"

/** What `now` returns when the operation cannot complete now; `later` then holds the effect to run instead. */
export const LATER: unique symbol = Symbol.for("fiberloop/net/inline/later")

/**
 * The effect to run for the last `now` that returned `LATER` (a wait, or a
 * failure). Set and read in the same synchronous step.
 */
let pending: Effect.Effect<any, ConnectionError> = Effect.void

/**
 * The effect recorded by the last `runLater` or `waitLater` (read it right after the `LATER`).
 *
 * ```ts
 * if (result === LATER) resume(later())
 * ```
 */
export const later = (): Effect.Effect<any, ConnectionError> => pending

/** Whether `pending` is a wait (the fiber resumes the `yield*` with its value), not a failure. */
let pendingWaits = false

/**
 * Returns `LATER` and records `effect`, a failure, as what to run instead.
 *
 * ```ts
 * if (closed) return runLater(this.closedError("receive"))
 * ```
 */
export const runLater = (effect: Effect.Effect<any, ConnectionError>): typeof LATER => {
  pending = effect
  pendingWaits = false
  return LATER
}

/**
 * Returns `LATER` and records `effect`, a wait whose value is the
 * operation's, as what to run instead.
 *
 * ```ts
 * if (mustWait) return waitLater(this.wait)
 * ```
 */
export const waitLater = (effect: Effect.Effect<any, ConnectionError>): typeof LATER => {
  pending = effect
  pendingWaits = true
  return LATER
}

/**
 * Inline completions since the last yield to the scheduler. Every
 * `INLINE_BUDGET`-th one yields first, so a handler whose reads and sends
 * never wait (a send loop to a fast reader) still lets other fibers, timers
 * and I/O run, as the run loop's own op budget would.
 */
let inlineRun = 0
const INLINE_BUDGET = 1024

/** A `yield*` in progress over an operation: 0 not started, 1 after a yield to the scheduler, 2 waiting. */
interface Step {
  state: number
}

const step = <A>(it: Step, op: InlineOp<A>, value: unknown): IteratorResult<unknown, A> => {
  if (it.state === 2) {
    // the effect yielded has run: its value is the operation's
    it.state = 0
    return { done: true, value: value as A }
  }
  if (it.state === 0 && ++inlineRun === INLINE_BUDGET) {
    inlineRun = 0
    it.state = 1
    return { done: false, value: Effect.yieldNow }
  }
  const result = op.now()
  if (result !== LATER) {
    it.state = 0
    return { done: true, value: result }
  }
  // a failure ends the generator: nothing resumes this iterator
  it.state = pendingWaits ? 2 : 0
  return { done: false, value: pending }
}

/** The iterator of a `yield*` over an operation another `yield*` is already in. */
class OpIterator<A> implements Step {
  state = 0
  readonly op: InlineOp<A>
  constructor(op: InlineOp<A>) {
    this.op = op
  }
  next(value?: unknown): IteratorResult<unknown, A> {
    return step(this, this.op, value)
  }
  return(value?: A): IteratorResult<unknown, A> {
    this.state = 0
    return { done: true, value: value as A }
  }
}

/**
 * An operation of a connection that may complete at once. Subclasses say
 * what `now` does: the value, or `runLater(failure)` / `waitLater(wait)`.
 *
 * ```ts
 * class Read extends InlineOp<Buffer> {
 *   now() { return conn.readNow(...) }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export abstract class InlineOp<A> implements Step {
  /** This operation as its own iterator (the usual case: one `yield*` at a time). */
  state = 0

  /** The value now, or `LATER` (see `runLater` and `waitLater`). */
  abstract now(): A | typeof LATER

  /** The operation as an effect result, for the fiber's run loop. */
  run(): Effect.Effect<A, ConnectionError> {
    const result = this.now()
    return result === LATER ? pending : Effect.succeed(result)
  }

  [Symbol.iterator](): Iterator<unknown, A> {
    return this.state === 0 ? this : new OpIterator(this)
  }

  next(value?: unknown): IteratorResult<unknown, A> {
    return step(this, this, value)
  }

  /** A `yield*` that ends early (the generator returned or was interrupted) resets the state. */
  return(value?: A): IteratorResult<unknown, A> {
    this.state = 0
    return { done: true, value: value as A }
  }
}

// The operations inherit `Effect.suspend`'s prototype (an Effect, pipeable,
// run by the fiber through the suspended thunk), found from a probe rather
// than named: `argsKey` is the own property where a suspend keeps its thunk.
const probeThunk = () => Effect.void
const probe = Effect.suspend(probeThunk) as unknown as Record<string, unknown>
const argsKey = Object.keys(probe).find((key) => probe[key] === probeThunk)

/**
 * Whether operations can be Effects themselves on this version of effect;
 * if not (its internals changed), `asEffect` wraps each in `Effect.suspend`.
 */
const native = argsKey !== undefined
if (native) {
  Object.setPrototypeOf(InlineOp.prototype, Object.getPrototypeOf(probe))
  Object.defineProperty(InlineOp.prototype, argsKey, {
    get(this: InlineOp<unknown>) {
      return () => this.run()
    }
  })
}

/**
 * The operation as an `Effect` (itself, on the effect versions it knows).
 *
 * ```ts
 * receive(): Effect.Effect<string, ConnectionError> { return asEffect(new Read(this)) }
 * ```
 */
export const asEffect = <A>(op: InlineOp<A>): Effect.Effect<A, ConnectionError> =>
  native ? op as unknown as Effect.Effect<A, ConnectionError> : Effect.suspend(() => op.run())
