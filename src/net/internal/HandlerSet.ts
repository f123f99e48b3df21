/**
 * The handler fibers of one server: what `Tcp.serve` (plain and TLS),
 * `Udp.serve` and `SocketServer` share.
 *
 * Each handler runs in a fiber of its own, started straight from a Node event,
 * with the services of the code that started the server (without its scope,
 * and without the stack frame of the `serve` span, which would annotate every
 * handler's end with a new Map) plus a `Scope` of its own. That scope closes
 * when the handler ends, however it ends, so `Effect.addFinalizer` and
 * `acquireRelease` in a handler release with the connection (or datagram);
 * finalizers run before the server's `ended` hook, which closes the socket.
 * A handler's failure is counted, logged (debug level for network conditions,
 * warning otherwise), passed to `onError` in addition to the log, and never
 * stops the server. `close` stops starting handlers, waits up to
 * `drainTimeout` for the running ones, then interrupts the rest and waits
 * until every one has ended.
 *
 * The accept path is the hot path: per handler this allocates the scope (a
 * small object), one context overlay holding it, the fiber, and one observer
 * (none when the handler ends before it first suspends); closing a scope that
 * holds no finalizer runs nothing. Measured on a loaded 2-vCPU VM against the
 * previous core (no scope): about 1.03x the server CPU per connection.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import type * as Stats from "../../Stats.ts"

/**
 * How a server wants its handlers' ends handled.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<S, E> {
  /** The server's name in log messages, e.g. `"Tcp.serve"`. */
  readonly name: string
  /** Called with a failed handler's cause and subject, in addition to the log. */
  readonly onError: ((cause: Cause.Cause<E>, subject: S) => Effect.Effect<void>) | undefined
  /** The peer a subject came from, annotated on log lines as `remote`. */
  readonly peerOf: (subject: S) => string
  /**
   * Runs once a handler has ended and its scope has closed: the server closes
   * the subject's socket and starts waiting work here.
   */
  readonly ended: (subject: S) => void
  /** How long `close` waits for running handlers before interrupting them. Default 5 seconds. */
  readonly drainTimeout: Duration.Input | undefined
  /** The server's metrics tally (`failures` and `active` are kept here), if it reports to `Stats`. */
  readonly tally: Stats.Tally | undefined
}

/** End of stream or interruption: the normal end of a handler, not a failure. */
const isNormalEnd = (cause: Cause.Cause<unknown>): boolean => {
  if (Cause.hasInterruptsOnly(cause)) return true
  const error = Cause.findErrorOption(cause)
  return Option.isSome(error) && (error.value as { _tag?: string })._tag === "ConnectionClosed" &&
    !Cause.hasDies(cause)
}

const networkConditions = new Set([
  "ConnectionRefused",
  "ConnectionReset",
  "ConnectionTimeout",
  "LineTooLong",
  "StreamTooLong",
  "FrameTooLong",
  "SocketClosed",
  "TlsError"
])

/** Whether a handler ended because of the network rather than a bug: logged at debug level. */
const isNetworkCondition = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.findErrorOption(cause)
  return !Cause.hasDies(cause) && Option.isSome(error) &&
    networkConditions.has((error.value as { _tag?: string })._tag ?? "")
}

/**
 * The running handlers of one server.
 *
 * **Example** (A server's accept path)
 *
 * ```ts
 * const handlers = yield* HandlerSet.make<Connection, E, R>({ name: "Tcp.serve", ... })
 * server.on("connection", (socket) => handlers.run(handler, Connection.makeUnsafe(socket)))
 * yield* Effect.addFinalizer(() => handlers.close)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class HandlerSet<S, E, R> {
  /** Handlers (or their finalizers) running now. */
  readonly fibers = new Set<Fiber.Fiber<unknown, unknown>>()
  /** Handlers that ended with a failure other than end of stream or interruption. */
  failed = 0
  /** Set once `close` has stopped waiting: handlers started from now on are interrupted at once. */
  closed = false
  private readonly services: Context.Context<R>
  private readonly runFork: <A, E2>(effect: Effect.Effect<A, E2, R>) => Fiber.Fiber<A, E2>
  private readonly options: Options<S, E>
  private readonly drainMillis: number
  private drained: Deferred.Deferred<void> | undefined = undefined
  /** The fiber running `close`: a handler closing its own server does not wait for itself. */
  private closer: Fiber.Fiber<unknown, unknown> | undefined = undefined

  constructor(services: Context.Context<R>, options: Options<S, E>) {
    this.services = services
    this.runFork = Effect.runForkWith(services)
    this.options = options
    this.drainMillis = Duration.toMillis(Duration.fromInputUnsafe(options.drainTimeout ?? "5 seconds"))
  }

  /** Handlers (or their finalizers) running now. */
  get size(): number {
    return this.fibers.size
  }

  /**
   * Runs `handler(subject)` in a fiber of its own with a scope of its own. A
   * handler that throws while building its effect counts as one that died.
   */
  run(handler: (subject: S) => Effect.Effect<unknown, E, R | Scope.Scope>, subject: S): void {
    let program: Effect.Effect<unknown, E, R | Scope.Scope>
    try {
      program = handler(subject)
    } catch (defect) {
      program = Effect.die(defect)
    }
    this.start(program, subject)
  }

  /** Runs `program` for `subject` in a fiber of its own with a scope of its own. */
  start(program: Effect.Effect<unknown, E, R | Scope.Scope>, subject: S): void {
    const scope = Scope.makeUnsafe()
    const fiber = Effect.runForkWith(Context.add(this.services, Scope.Scope, scope))(program)
    if (this.options.tally !== undefined) this.options.tally.active++
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) return this.finish(fiber, subject, scope, exit)
    this.fibers.add(fiber)
    fiber.addObserver((exit) => this.finish(fiber, subject, scope, exit))
    // the server closed while this handler was starting (the handler itself, or a fiber it resumed, closed it):
    // nobody waits for it any more
    if (this.closed) fiber.interruptUnsafe()
  }

  /** The handler has ended: close its scope (its finalizers run in a fiber if it has any), then report. */
  private finish(
    fiber: Fiber.Fiber<unknown, unknown>,
    subject: S,
    scope: Scope.Closeable,
    exit: Exit.Exit<unknown, unknown>
  ): void {
    const finalizers = Scope.closeUnsafe(scope, exit)
    if (finalizers === undefined) return this.done(fiber, subject, exit)
    const finalizing = this.runFork(Effect.uninterruptible(finalizers))
    this.fibers.delete(fiber)
    const finalized = finalizing.pollUnsafe()
    if (finalized !== undefined) return this.done(finalizing, subject, withFinalizers(exit, finalized))
    this.fibers.add(finalizing)
    finalizing.addObserver((finalized) => this.done(finalizing, subject, withFinalizers(exit, finalized)))
  }

  private done(fiber: Fiber.Fiber<unknown, unknown>, subject: S, exit: Exit.Exit<unknown, unknown>): void {
    this.fibers.delete(fiber)
    if (this.options.tally !== undefined) this.options.tally.active--
    if (exit._tag === "Failure") this.report(exit.cause as Cause.Cause<E>, subject)
    this.options.ended(subject)
    if (this.drained !== undefined && this.others() === 0) Deferred.doneUnsafe(this.drained, Exit.void)
  }

  /** Running fibers other than the one closing the server. */
  private others(): number {
    return this.fibers.size - (this.closer !== undefined && this.fibers.has(this.closer) ? 1 : 0)
  }

  /** Logs and counts a handler's failure; runs in a fiber of its own, the handler's has ended. */
  private report(cause: Cause.Cause<E>, subject: S): void {
    if (isNormalEnd(cause)) return
    this.failed++
    if (this.options.tally !== undefined) this.options.tally.failures++
    const onError = this.options.onError
    const log = isNetworkCondition(cause)
      ? Effect.logDebug(`${this.options.name}: handler ended by a network condition`, cause)
      : Effect.logWarning(`${this.options.name}: handler failed`, cause)
    this.runFork(
      log.pipe(
        Effect.andThen(onError === undefined ? Effect.void : Effect.suspend(() => onError(cause, subject))),
        Effect.annotateLogs({ remote: this.options.peerOf(subject) }),
        Effect.catchCause(() => Effect.void)
      )
    )
  }

  /** Runs a side task (a log line) with the server's services, in a fiber of its own. */
  fork(effect: Effect.Effect<void, never, R>): void {
    this.runFork(effect)
  }

  /**
   * Stops: the running handlers get `drainTimeout` to finish, then are
   * interrupted; waits until every one (and its finalizers) has ended.
   * Handlers started after that are interrupted at once. A handler that
   * closes its own server is not waited for (it would wait for itself).
   */
  readonly close: Effect.Effect<void> = Effect.withFiber((current) => {
    this.closer = current
    if (this.others() === 0) {
      this.closed = true
      return Effect.void
    }
    const drained = this.drained = Deferred.makeUnsafe<void>()
    const interruptOthers = Effect.suspend(() => {
      for (const fiber of this.fibers) if (fiber !== current) fiber.interruptUnsafe()
      return Deferred.await(drained)
    })
    return Deferred.await(drained).pipe(
      Effect.timeoutOrElse({ duration: this.drainMillis, orElse: () => interruptOthers }),
      Effect.ensuring(Effect.sync(() => (this.closed = true)))
    )
  })
}

/** A handler's exit, with its finalizers' failure added. */
const withFinalizers = (exit: Exit.Exit<unknown, unknown>, finalized: Exit.Exit<unknown, unknown>) =>
  finalized._tag === "Success"
    ? exit
    : Exit.failCause(exit._tag === "Failure" ? Cause.combine(exit.cause, finalized.cause) : finalized.cause)

/**
 * Makes the handler set of a server started in the current fiber: handlers get
 * the current services, without the current scope and stack frame.
 *
 * **Example** (In a server's constructor)
 *
 * ```ts
 * const handlers = yield* HandlerSet.make<Incoming, E, R>({ name: "Udp.serve", onError, peerOf, ended, ... })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <S, E, R>(options: Options<S, E>): Effect.Effect<HandlerSet<S, E, R>, never, R> =>
  Effect.map(
    Effect.context<R>(),
    (context) =>
      new HandlerSet<S, E, R>(
        Context.omit(Scope.Scope, References.CurrentStackFrame)(context) as Context.Context<R>,
        options
      )
  )
