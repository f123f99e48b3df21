/**
 * The coroutine runtime behind the Copas and socketloop facades: threads that
 * are fibers, and a Copas-semantics scheduler over them.
 *
 * A thread runs an async function, a generator function or a plain function
 * in a fiber of the runtime's Effect context (`Loop.layer` by default). Every
 * blocking call the function makes (a read, `pause`, `lock.get`) is an Effect
 * run *in that fiber*, so fiber-owned things (a lock's owner) belong to the
 * thread. The async function posts the Effect to its fiber and awaits a
 * promise; a generator yields the promise (or any Effect) and is resumed
 * synchronously with the result, as a Lua coroutine would be.
 *
 * The scheduler reproduces Copas's step: wait (0 when something is
 * resumable, else until the next sleeper, bounded by the caller's timeout),
 * move expired sleepers to the resumable list, resume a snapshot of that list
 * in order, then let the resumed threads run to their next blocking call.
 * Anything made resumable meanwhile runs on the next step, so two threads
 * pausing in a loop alternate strictly. `loop` steps until nothing is left
 * (no server, no thread reading, writing, running, sleeping or waiting with a
 * timeout; threads parked without a timeout do not count unless a
 * `copas.timeout` is armed), then runs the two-phase exit.
 *
 * Difference from Copas: a thread blocked on a socket resumes when its data
 * arrives, on the fiber runtime, not at the next step; `step` still reports
 * such events.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { AsyncLocalStorage } from "node:async_hooks"
import * as Loop from "../Loop.ts"
import { CopasError, copasError, toCopasError } from "./Errors.ts"
import {
  type Body,
  BODY_DONE,
  Call,
  type CallKind,
  callStates,
  type ErrorHandler,
  failureOf,
  isInterrupted,
  isIterator,
  isThenable,
  type Named,
  noop,
  type Services,
  type Thread,
  ThreadImpl,
  type ThreadState
} from "./Thread.ts"

// =============================================================================
// Runtime
// =============================================================================

interface Sleeper {
  readonly thread: ThreadImpl
  readonly at: number
  readonly seq: number
}

const now = (): number => performance.now()

/** Lets resumed threads run to their next blocking call (their continuations are microtasks). */
const barrier = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const printError = (line: string): void => {
  process.stderr.write(line.endsWith("\n") ? line : `${line}\n`)
}

/**
 * Copas's `gettraceback`: the message, the thread and socket names, the stack.
 *
 * **Example** (Formatting an error)
 *
 * ```ts
 * traceback(new Error("boom"), thread, undefined) // => "boom (coroutine: worker, socket: nil)\n..."
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const traceback = (error: unknown, thread: Named | undefined, socket: Named | undefined): string => {
  const message = error instanceof Error ? error.message : String(error)
  const stack = error instanceof Error && error.stack !== undefined
    ? `\n${error.stack.split("\n").slice(1).join("\n")}`
    : ""
  return `${message} (coroutine: ${thread?.name ?? "nil"}, socket: ${socket?.name ?? "nil"})${stack}`
}

const defaultErrorHandler: ErrorHandler = (error, thread, socket) => printError(traceback(error, thread, socket))

/**
 * A coroutine runtime: the services threads run on, the scheduler and its
 * threads. The Copas and socketloop facades are views of one.
 *
 * **Example** (Sharing one runtime)
 *
 * ```ts
 * const runtime = Runtime.makeDefault()
 * const c = Copas.make(runtime)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class Runtime {
  readonly context: Context.Context<Services>
  private readonly runFork: <A, E>(effect: Effect.Effect<A, E, Services>) => Fiber.Fiber<A, E>
  readonly current = new AsyncLocalStorage<ThreadImpl>()
  /** Thread states, counted. */
  readonly counts: Record<ThreadState, number> = {
    running: 0,
    resumable: 0,
    sleeping: 0,
    parked: 0,
    reading: 0,
    writing: 0,
    timed: 0,
    idle: 0,
    done: 0
  }
  readonly threads = new Set<ThreadImpl>()
  private resumable: Array<ThreadImpl> = []
  private sleepers: Array<Sleeper> = []
  /** Registered servers (they read: they keep the loop alive). */
  servers = 0
  /** Armed `copas.timeout`s. */
  armed = 0
  /** Armed facade timers (sleeping threads, in Copas). */
  timers = 0
  /** Socket events handled (reads and writes completed). */
  ioEvents = 0
  exiting = false
  running = false
  defaultHandler: ErrorHandler = defaultErrorHandler
  private readonly exitWaiters = new Set<ThreadImpl>()
  private idleResolve: (() => void) | undefined = undefined
  private idleTimer: ReturnType<typeof setTimeout> | undefined = undefined
  private wakeOnIo = false
  /** Open facade sockets; `cancelall` closes those with a blocked reader or writer. */
  readonly sockets = new Set<{ readonly cancel: () => void; readonly bytesRead: number; readonly bytesWritten: number }>()
  /** Bytes moved by facade sockets already closed. */
  bytesRead = 0
  bytesWritten = 0
  /** The thread `copas.timeout` callbacks and timers report as. */
  readonly coreTimer: Named = { name: "copas_core_timer" }

  constructor(context: Context.Context<Services>) {
    this.context = context
    this.runFork = Effect.runForkWith(context)
  }

  // ---------------------------------------------------------------------------
  // Threads

  /** The thread whose code is running, if any. */
  currentThread(): ThreadImpl | undefined {
    return this.current.getStore()
  }

  setState(thread: ThreadImpl, state: ThreadState): void {
    this.counts[thread.state]--
    this.counts[state]++
    thread.state = state
  }

  /**
   * Starts a thread in a fiber of its own. With `defer`, its body starts at
   * the next step (Copas `addthread`); without, it runs at once until its
   * first blocking call (socketloop `newthread`).
   */
  spawn(body: Body, args: ReadonlyArray<unknown>, options: {
    readonly name?: string | undefined
    readonly defer: boolean
    readonly errorHandler?: ErrorHandler | undefined
  }): ThreadImpl {
    const thread = this.makeThread(options.name)
    thread.errorHandler = options.errorHandler
    this.runFork(this.drive(thread, body, args, options.defer))
    return thread
  }

  makeThread(name: string | undefined, state: ThreadState = "running"): ThreadImpl {
    const thread = new ThreadImpl(this, name)
    thread.state = state
    this.counts[state]++
    this.threads.add(thread)
    return thread
  }

  /**
   * Runs `body` as `thread` in the current fiber, to its end; errors go to the
   * thread's error handler and never fail the Effect.
   */
  drive(thread: ThreadImpl, body: Body, args: ReadonlyArray<unknown>, defer: boolean): Effect.Effect<void> {
    return Effect.onExit(
      Effect.suspend(() => {
        thread.fiber = Fiber.getCurrent()!
        const started = defer ? Effect.andThen(this.pause(thread, 0), this.runBody(thread, body, args)) : this.runBody(thread, body, args)
        return Effect.flatMap(started, (exit) => Effect.sync(() => this.end(thread, exit)))
      }),
      (exit) => Effect.sync(() => exit._tag === "Failure" && this.end(thread, exit))
    )
  }

  /** Runs one body (async, generator or plain) in the thread's current fiber, serving its calls. */
  runBody(thread: ThreadImpl, body: Body, args: ReadonlyArray<unknown>): Effect.Effect<Exit.Exit<unknown, unknown>> {
    return Effect.suspend(() => {
      thread.bodyExit = undefined
      let result: unknown
      try {
        result = this.current.run(thread, () => body(...args))
      } catch (error) {
        return Effect.succeed(Exit.fail(error))
      }
      if (isIterator(result)) {
        thread.generator = true
        return this.runGenerator(thread, result)
      }
      if (isThenable(result)) {
        result.then((value) => thread.bodyEnded(Exit.succeed(value)), (error) => thread.bodyEnded(Exit.fail(error)))
        return this.serve(thread)
      }
      return Effect.succeed(Exit.succeed(result))
    })
  }

  /**
   * Runs `body` as one turn of a long-lived thread (a timer's callback, a
   * queue worker's item) in the current fiber; between turns the thread is in
   * state `between`. Errors go to `handler`, else the thread's error handler.
   */
  runTurn(
    thread: ThreadImpl,
    body: Body,
    args: ReadonlyArray<unknown>,
    between: ThreadState,
    handler?: ErrorHandler | undefined
  ): Effect.Effect<void> {
    return Effect.suspend(() => {
      thread.fiber = Fiber.getCurrent()!
      this.unschedule(thread)
      this.setState(thread, "running")
      return Effect.onExit(this.runBody(thread, body, args), (exit) =>
        Effect.sync(() => {
          this.unschedule(thread)
          if (thread.exit === undefined) this.setState(thread, between)
          if (exit._tag === "Success" && exit.value._tag === "Failure") {
            this.report(failureOf(exit.value), thread, handler ?? thread.errorHandler)
          }
          this.notify()
        }))
    })
  }

  /** An async body's fiber: run its calls until it has ended. */
  private serve(thread: ThreadImpl): Effect.Effect<Exit.Exit<unknown, unknown>> {
    const loop: Effect.Effect<Exit.Exit<unknown, unknown>> = Effect.flatMap(thread.next, (call) => {
      if (call === BODY_DONE) return Effect.succeed(thread.bodyExit!)
      return Effect.flatMap(this.runCall(thread, call), () => loop)
    })
    return loop
  }

  private runCall(thread: ThreadImpl, call: Call): Effect.Effect<Exit.Exit<any, unknown>> {
    if (call.kind !== "run") {
      this.setState(thread, callStates[call.kind])
      if (call.kind === "park") this.notify()
    }
    return Effect.flatMap(Effect.exit(call.effect), (exit) => {
      if (thread.state !== "running") this.setState(thread, "running")
      if (call.kind === "read" || call.kind === "write") {
        this.ioEvent()
        // as in Copas, I/O yields for a step now and then (while a loop runs), so a busy socket cannot starve the others
        if (this.running && Math.random() < 0.1) {
          return Effect.map(this.pause(thread, 0), () => {
            call.settle(exit)
            return exit
          })
        }
      }
      call.settle(exit)
      return Effect.succeed(exit)
    })
  }

  /** A generator body: resume it with each result, synchronously, in the thread's fiber. */
  private runGenerator(
    thread: ThreadImpl,
    gen: Iterator<unknown, unknown, unknown>
  ): Effect.Effect<Exit.Exit<unknown, unknown>> {
    const current = this.current
    const step = (input: Exit.Exit<unknown, unknown>): Effect.Effect<Exit.Exit<unknown, unknown>> => {
      let r: IteratorResult<unknown, unknown>
      try {
        r = current.run(thread, () => input._tag === "Success" ? gen.next(input.value) : gen.throw!(failureOf(input)))
      } catch (error) {
        return Effect.succeed(Exit.fail(error))
      }
      if (r.done) return Effect.succeed(Exit.succeed(r.value))
      return Effect.flatMap(this.resolveYield(thread, r.value), step)
    }
    return step(Exit.void)
  }

  /** What a generator's `yield` gives back: a posted call's result, an Effect's, a promise's. */
  private resolveYield(thread: ThreadImpl, yielded: unknown): Effect.Effect<Exit.Exit<unknown, unknown>> {
    if (thread.calls.length > 0) {
      const call = thread.calls.shift()!
      return Effect.flatMap(this.runCall(thread, call), (exit) =>
        call.promise === yielded ? Effect.succeed(exit) : this.resolveYield(thread, yielded))
    }
    if (Effect.isEffect(yielded)) return Effect.exit(yielded as Effect.Effect<unknown, unknown>)
    if (isThenable(yielded)) {
      // an async function's promise: serve the calls it posts until it settles
      thread.bodyExit = undefined
      yielded.then((value) => thread.bodyEnded(Exit.succeed(value)), (error) => thread.bodyEnded(Exit.fail(error)))
      return Effect.map(this.serve(thread), (exit) => {
        thread.bodyExit = undefined
        return exit
      })
    }
    return Effect.succeed(Exit.die(
      copasError("coroutine.yield was called without a resume first, user-code cannot yield to Copas")
    ))
  }

  /**
   * Runs `effect` as a blocking call of the current thread, in its fiber;
   * outside any thread, in a fiber of its own. Failures reject with a
   * `CopasError`.
   */
  call<A>(
    make: (thread: ThreadImpl | undefined) => Effect.Effect<A, unknown, Services>,
    kind: CallKind,
    mapErrors = true
  ): Promise<A> {
    const thread = this.current.getStore()
    if (thread === undefined || thread.exit !== undefined) {
      const effect = make(undefined)
      return Effect.runPromiseWith(this.context)(mapErrors ? Effect.mapError(effect, (e) => toCopasError(e)) : effect)
    }
    const call = new Call(make(thread) as Effect.Effect<A, unknown>, kind, mapErrors)
    if (thread.generator) call.promise.then(undefined, noop)
    thread.post(call)
    return call.promise
  }

  /**
   * `body(...args)` as a thread in the fiber that runs the Effect, failing with
   * what it throws (a facade call's `CopasError` as the typed error it wraps).
   */
  asEffect(body: Body, args: ReadonlyArray<unknown>): Effect.Effect<unknown, unknown> {
    return Effect.suspend(() => {
      const thread = this.makeThread(undefined)
      thread.errorHandler = noop
      return Effect.flatMap(this.drive(thread, body, args, false), () => {
        const exit = thread.exit!
        if (exit._tag === "Success" || isInterrupted(exit)) return exit
        // a facade call's failure becomes fiberloop's typed error again (Tcp.serve then sees end of stream)
        const error = failureOf(exit)
        const typed = error instanceof CopasError && (error.cause as { _tag?: string } | undefined)?._tag !== undefined
        return Effect.fail(typed ? (error as CopasError).cause : error)
      })
    })
  }

  /** Runs an Effect on the runtime's services in a fiber of its own. */
  fork<A, E>(effect: Effect.Effect<A, E, Services>): Fiber.Fiber<A, E> {
    return this.runFork(effect)
  }

  /** Marks a thread ended (reporting a failure to its error handler). */
  end(thread: ThreadImpl, exit: Exit.Exit<unknown, unknown>): void {
    if (thread.exit !== undefined) return
    this.unschedule(thread)
    this.clearTimeout(thread)
    thread.exit = exit
    this.setState(thread, "done")
    this.threads.delete(thread)
    if (exit._tag === "Failure") {
      const interrupted = isInterrupted(exit)
      const error = failureOf(exit)
      // a server handler ended by its client hanging up has ended normally
      const hungUp = thread.socket !== undefined && error instanceof CopasError && error.err === "closed"
      if (!interrupted && !hungUp) this.report(error, thread, thread.errorHandler)
    }
    thread.onEnd?.(exit)
    this.notify()
  }

  /** Calls an error handler (the default one when absent); a throwing handler is printed. */
  report(error: unknown, thread: Named, handler: ErrorHandler | undefined): void {
    const h = handler ?? this.defaultHandler
    try {
      const r = h(error, thread as Thread, (thread as ThreadImpl).socket)
      if (isThenable(r)) r.then(undefined, (e) => printError(`Failed executing error handler: ${String(e)}`))
    } catch (e) {
      printError(`Failed executing error handler: ${e instanceof Error ? e.message : String(e)}`)
    }
  }

  /** Removes a thread: it leaves every scheduler list at once and its fiber is interrupted. */
  remove(thread: ThreadImpl): void {
    if (thread.exit !== undefined) return
    this.unschedule(thread)
    thread.fiber?.interruptUnsafe()
  }

  // ---------------------------------------------------------------------------
  // Pausing

  /**
   * Suspends `thread`: `seconds` > 0 sleeps, `Infinity` parks until `wakeup`,
   * anything else yields for one step. Succeeds with the seconds slept.
   */
  pause(thread: ThreadImpl, seconds: number): Effect.Effect<number> {
    return Effect.callback<number>((resume) => {
      thread.wake = resume
      thread.pausedAt = now()
      if (seconds === Infinity) this.setState(thread, "parked")
      else if (seconds > 0) {
        this.setState(thread, "sleeping")
        this.addSleeper({ thread, at: thread.pausedAt + seconds * 1000, seq: ++thread.sleepSeq })
      } else {
        this.setState(thread, "resumable")
        this.resumable.push(thread)
      }
      this.notify()
      return Effect.sync(() => this.unschedule(thread))
    })
  }

  /** socketloop `suspend`: parks `thread` until `resumeWith` gives it a value. */
  suspend(thread: ThreadImpl): Effect.Effect<unknown> {
    return Effect.callback<unknown>((resume) => {
      thread.resumeWith = resume
      this.setState(thread, "parked")
      this.notify()
      return Effect.sync(() => {
        thread.resumeWith = undefined
        if (thread.state === "parked") this.setState(thread, "running")
      })
    })
  }

  /**
   * socketloop `resume`: a thread parked by `suspend` continues now, with
   * `value` as `suspend`'s result (a generator runs synchronously to its next
   * yield; an async function continues in a microtask). False when the
   * thread is not suspended.
   */
  resumeWith(thread: ThreadImpl, value: unknown): boolean {
    const resume = thread.resumeWith
    if (resume === undefined) return false
    thread.resumeWith = undefined
    this.setState(thread, "running")
    resume(Exit.succeed(value))
    return true
  }

  /** Copas `wakeup`: a sleeping or parked thread runs at the next step. */
  wakeup(thread: ThreadImpl): void {
    if (thread.state !== "sleeping" && thread.state !== "parked") return
    if (thread.wake === undefined) return
    thread.sleepSeq++
    this.exitWaiters.delete(thread)
    this.setState(thread, "resumable")
    this.resumable.push(thread)
    this.notify()
  }

  private unschedule(thread: ThreadImpl): void {
    this.exitWaiters.delete(thread)
    if (thread.wake === undefined) return
    thread.wake = undefined
    thread.sleepSeq++
    const i = this.resumable.indexOf(thread)
    if (i >= 0) this.resumable.splice(i, 1)
    if (thread.state === "sleeping" || thread.state === "parked" || thread.state === "resumable") {
      this.setState(thread, "running")
    }
  }

  private resume(thread: ThreadImpl): void {
    const wake = thread.wake
    if (wake === undefined) return
    thread.wake = undefined
    this.setState(thread, "running")
    wake(Exit.succeed((now() - thread.pausedAt) / 1000))
  }

  private addSleeper(sleeper: Sleeper): void {
    const heap = this.sleepers
    heap.push(sleeper)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.at <= sleeper.at) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = sleeper
  }

  private popSleeper(): Sleeper | undefined {
    const heap = this.sleepers
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last !== undefined) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= heap.length) break
        const r = l + 1
        const c = r < heap.length && heap[r]!.at < heap[l]!.at ? r : l
        if (heap[c]!.at >= last.at) break
        heap[i] = heap[c]!
        i = c
      }
      heap[i] = last
    }
    return top
  }

  /** The wake time of the earliest live sleeper (stale entries are dropped). */
  private nextWake(): number {
    for (;;) {
      const top = this.sleepers[0]
      if (top === undefined) return Infinity
      if (top.seq === top.thread.sleepSeq && top.thread.state === "sleeping") return top.at
      this.popSleeper()
    }
  }

  // ---------------------------------------------------------------------------
  // Exit

  /** Copas `exit`: sets the flag and releases every `waitforexit` waiter. */
  exit(): void {
    if (this.exiting) return
    this.exiting = true
    for (const thread of this.exitWaiters) this.wakeup(thread)
    this.exitWaiters.clear()
    this.notify()
  }

  /** Copas `waitforexit`: parks until `exit`. */
  waitForExit(thread: ThreadImpl): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.exiting) return Effect.void
      this.exitWaiters.add(thread)
      return Effect.asVoid(this.pause(thread, Infinity))
    })
  }

  /** Copas `cancelall`: drops every scheduled thread, closes waiting sockets, exits. */
  cancelAll(): void {
    const self = this.current.getStore()
    for (const thread of [...this.threads]) {
      if (thread === self) continue
      if (thread.state === "resumable" || thread.state === "sleeping" || thread.state === "parked") this.remove(thread)
    }
    for (const socket of [...this.sockets]) socket.cancel()
    this.exit()
  }

  // ---------------------------------------------------------------------------
  // copas.timeout

  /** Copas `timeout`: one per thread, replaced by the next; 0 or Infinity cancels. */
  setTimeout(thread: ThreadImpl, seconds: number, callback: ((thread: Thread) => unknown) | undefined): void {
    if (!(seconds >= 0)) throw copasError("timeout must be >= 0")
    this.clearTimeout(thread)
    if (seconds === 0 || seconds === Infinity || callback === undefined) return
    this.armed++
    thread.timeoutTimer = setTimeout(() => {
      thread.timeoutTimer = undefined
      this.armed--
      try {
        const r = callback(thread)
        if (isThenable(r)) r.then(undefined, (e) => this.report(e, this.coreTimer, undefined))
      } catch (e) {
        this.report(e, this.coreTimer, undefined)
      }
      this.notify()
    }, seconds * 1000)
  }

  private clearTimeout(thread: ThreadImpl): void {
    if (thread.timeoutTimer === undefined) return
    clearTimeout(thread.timeoutTimer)
    thread.timeoutTimer = undefined
    this.armed--
    this.notify()
  }

  // ---------------------------------------------------------------------------
  // Stepping

  /** Whether nothing is left to run (Copas `finished`). */
  finished(): boolean {
    const c = this.counts
    if (
      this.servers > 0 || this.timers > 0 || c.reading > 0 || c.writing > 0 || c.resumable > 0 ||
      c.sleeping > 0 || c.running > 0 || c.timed > 0
    ) return false
    return !(c.parked > 0 && this.armed > 0)
  }

  /** Wakes a waiting step: the scheduler's state changed. */
  notify(): void {
    if (this.idleResolve !== undefined) this.endIdle()
  }

  ioEvent(): void {
    this.ioEvents++
    if (this.wakeOnIo && this.idleResolve !== undefined) this.endIdle()
  }

  private readonly endIdle = (): void => {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
    const resolve = this.idleResolve
    this.idleResolve = undefined
    resolve?.()
  }

  private idle(millis: number, wakeOnIo: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      this.idleResolve = resolve
      this.wakeOnIo = wakeOnIo
      if (millis !== Infinity) this.idleTimer = setTimeout(this.endIdle, Math.max(1, millis))
    })
  }

  /**
   * One scheduler step; `timeout` (seconds) bounds the wait. Resolves `true`
   * when socket events were handled during it.
   */
  async step(timeout: number | undefined, wakeOnIo: boolean): Promise<boolean> {
    const events = this.ioEvents
    if (this.resumable.length === 0) {
      const bound = timeout === undefined || timeout < 0 ? Infinity : timeout * 1000
      const wait = Math.min(this.nextWake() - now(), bound)
      if (wait > 0.5) await this.idle(Math.ceil(wait), wakeOnIo)
    }
    const t = now() + 1
    while (this.nextWake() <= t) {
      const sleeper = this.popSleeper()!
      this.setState(sleeper.thread, "resumable")
      this.resumable.push(sleeper.thread)
    }
    const batch = this.resumable
    if (batch.length > 0) {
      this.resumable = []
      for (const thread of batch) this.resume(thread)
      await barrier()
    }
    return this.ioEvents !== events
  }

  /** Copas `loop`: steps until finished, then exits (two-phase) and returns. */
  async loop(timeout: number | undefined): Promise<void> {
    this.exiting = false
    this.running = true
    try {
      for (;;) {
        const finished = this.finished()
        if (finished) {
          if (this.exiting) break
          this.exit()
        }
        // a finished loop only runs what the exit released
        await this.step(finished ? 0 : timeout, false)
      }
    } finally {
      this.running = false
    }
  }
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * A runtime over the given services (an Effect program's, to share them).
 *
 * **Example** (A runtime on an Effect program's services)
 *
 * ```ts
 * const runtime = Runtime.make(yield* Effect.context<Runtime.Services>())
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (context: Context.Context<Services>): Runtime => new Runtime(context)

/**
 * A runtime on `Loop.layer`, built once for the process (its services live
 * until the process exits).
 *
 * **Example** (The default runtime)
 *
 * ```ts
 * const runtime = Runtime.makeDefault()
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeDefault = (): Runtime => {
  const scope = Scope.makeUnsafe()
  return new Runtime(Effect.runSync(Layer.buildWithScope(Loop.layer, scope)))
}
