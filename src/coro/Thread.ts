/**
 * Threads of the coroutine runtime: the models (a thread, its body, its
 * state, error handlers) and the mailbox through which a coroutine hands its
 * blocking calls to the thread's fiber.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Dns from "effect/net/Dns"
import type * as Tcp from "../net/Tcp.ts"
import type * as Udp from "../net/Udp.ts"
import { copasError, toCopasError } from "./Errors.ts"
import type { Runtime } from "./Runtime.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * The services a coroutine runtime runs on.
 *
 * **Example** (Providing them)
 *
 * ```ts
 * const services: Layer.Layer<Runtime.Services> = Loop.layer
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Services = Tcp.Tcp | Udp.Udp | Dns.Dns

/**
 * A coroutine: an async function, a generator function or a plain function.
 *
 * **Example** (Both kinds)
 *
 * ```ts
 * const a: Body = async () => copas.pause(1)
 * const b: Body = function*() { yield copas.pause(1) }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Body = (...args: Array<any>) => unknown

/**
 * Copas's error handler: `(error, thread, socket)`.
 *
 * **Example** (Logging with the thread's name)
 *
 * ```ts
 * copas.seterrorhandler((e, t) => console.error(t.name, e), true)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ErrorHandler = (error: unknown, thread: Thread, socket: Named | undefined) => unknown

/**
 * Anything with a name (threads and sockets).
 *
 * **Example** (A name for tracebacks)
 *
 * ```ts
 * traceback(new Error("x"), { name: "worker" }, undefined)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Named {
  readonly name: string
}

/**
 * What a thread is doing now: `status()` counts them.
 *
 * **Example** (Checking a thread)
 *
 * ```ts
 * if (thread.state === "done") console.log(thread.exit)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ThreadState =
  | "running"
  | "resumable"
  | "sleeping"
  | "parked"
  | "reading"
  | "writing"
  | "timed"
  | "idle"
  | "done"

/**
 * The kind of a blocking call, which sets the thread's state while it runs:
 * `run` (any other work), `read`, `write`, `park` (waits without a timeout:
 * does not keep the loop alive), `timed` (waits with a timeout).
 *
 * **Example** (A read in the current thread)
 *
 * ```ts
 * runtime.call(() => conn.receive("*l"), "read")
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type CallKind = "run" | "read" | "write" | "park" | "timed"

/**
 * A thread handle, as `addthread` returns it and `current` gives it.
 *
 * **Example** (Naming a thread)
 *
 * ```ts
 * const t = copas.addthread(async () => {})
 * t.name = "worker"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Thread {
  /** Copas `getthreadname`/`setthreadname`. */
  name: string
  /** What the thread is doing. */
  readonly state: ThreadState
  /** The fiber the thread runs in. */
  readonly fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** How the thread ended, once it has. */
  readonly exit: Exit.Exit<unknown, unknown> | undefined
}

// =============================================================================
// Threads
// =============================================================================

/** A blocking call posted by a thread to its fiber. */
/** @internal */
export class Call {
  readonly effect: Effect.Effect<any, unknown>
  readonly kind: CallKind
  resolve!: (value: any) => void
  reject!: (error: unknown) => void
  readonly promise: Promise<any>
  readonly mapErrors: boolean
  constructor(effect: Effect.Effect<any, unknown>, kind: CallKind, mapErrors: boolean) {
    this.effect = effect
    this.kind = kind
    this.mapErrors = mapErrors
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }
  settle(exit: Exit.Exit<any, unknown>): void {
    if (exit._tag === "Success") return this.resolve(exit.value)
    this.reject(this.mapErrors && !isInterrupted(exit) ? toCopasError(failureOf(exit)) : failureOf(exit))
  }
}

/** @internal */
export const noop = (): void => {}

/** @internal */
export const callStates: Record<Exclude<CallKind, "run">, ThreadState> = {
  read: "reading",
  write: "writing",
  park: "parked",
  timed: "timed"
}

/** The error of a failed exit, as the coroutine sees it. */
/** @internal */
export const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  if (exit._tag === "Success") return undefined
  for (const reason of exit.cause.reasons) {
    if (reason._tag === "Fail") return reason.error
    if (reason._tag === "Die") return reason.defect
  }
  return copasError("interrupted")
}

/** @internal */
export const isInterrupted = (exit: Exit.Exit<unknown, unknown>): boolean =>
  exit._tag === "Failure" && exit.cause.reasons.every((r) => r._tag === "Interrupt")

/** @internal */
export const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as PromiseLike<unknown>).then === "function"

/** @internal */
export const isIterator = (u: unknown): u is Iterator<unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && typeof (u as Iterator<unknown>).next === "function" &&
  typeof (u as Iterator<unknown>).throw === "function" && Symbol.iterator in u

/** Signals to a thread's fiber that its body has ended. */
/** @internal */
export const BODY_DONE = Symbol.for("fiberloop/coro/bodyDone")

let threadIds = 0

/** @internal */
export class ThreadImpl implements Thread {
  readonly id = ++threadIds
  name: string
  state: ThreadState = "running"
  fiber: Fiber.Fiber<unknown, unknown> | undefined = undefined
  exit: Exit.Exit<unknown, unknown> | undefined = undefined
  readonly runtime: Runtime
  errorHandler: ErrorHandler | undefined = undefined
  socket: Named | undefined = undefined
  generator = false
  // the mailbox of blocking calls
  calls: Array<Call> = []
  waiter: ((effect: Effect.Effect<Call | typeof BODY_DONE>) => void) | undefined = undefined
  bodyExit: Exit.Exit<unknown, unknown> | undefined = undefined
  // scheduler bookkeeping
  wake: ((effect: Effect.Effect<number>) => void) | undefined = undefined
  resumeWith: ((effect: Effect.Effect<unknown>) => void) | undefined = undefined
  pausedAt = 0
  sleepSeq = 0
  timeoutTimer: ReturnType<typeof setTimeout> | undefined = undefined
  readonly next: Effect.Effect<Call | typeof BODY_DONE>
  /** Called once the thread has ended (futures, server handlers). */
  onEnd: ((exit: Exit.Exit<unknown, unknown>) => void) | undefined = undefined

  constructor(runtime: Runtime, name: string | undefined) {
    this.runtime = runtime
    this.name = name ?? `thread: ${this.id}`
    this.next = Effect.callback<Call | typeof BODY_DONE>((resume) => {
      if (this.calls.length > 0) return resume(Exit.succeed(this.calls.shift()!))
      if (this.bodyExit !== undefined) return resume(Exit.succeed(BODY_DONE))
      this.waiter = resume
    })
  }

  post(call: Call): void {
    this.calls.push(call)
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter(Exit.succeed(this.calls.shift()!))
    }
  }

  bodyEnded(exit: Exit.Exit<unknown, unknown>): void {
    this.bodyExit = exit
    const waiter = this.waiter
    if (waiter !== undefined && this.calls.length === 0) {
      this.waiter = undefined
      waiter(Exit.succeed(BODY_DONE))
    }
  }

  toString(): string {
    return this.name
  }
}

