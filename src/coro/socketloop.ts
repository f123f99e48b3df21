/**
 * luapower's socketloop API: threads that run at once, explicit
 * `suspend`/`resume`, servers with a thread per client, and a loop driven by
 * `step`/`start`/`stop`.
 *
 * It shares its runtime with a Copas instance (the process's by default), so
 * the same sockets and threads can be used from both APIs. Differences from
 * socketloop: sockets have Copas's timeouts (none by default, as in
 * socketloop); `resume` continues a generator thread synchronously, but an
 * async function only in the next microtask; an error in a thread goes to the
 * Copas error handler instead of being re-raised.
 *
 * @since 0.1.0
 */
import { Copas, getDefault, type Server } from "./copas.ts"
import { copasError } from "./Errors.ts"
import type * as Runtime from "./Runtime.ts"
import type * as Threads from "./Thread.ts"
import { TcpSocket } from "./Socket.ts"

/**
 * A socketloop instance over a Copas instance's runtime.
 *
 * **Example** (A suspended thread resumed from another)
 *
 * ```ts
 * const waiter = socketloop.newthread(function*() {
 *   const value = yield socketloop.suspend()
 *   console.log("got", value) // => got 42
 * })
 * socketloop.newthread(function*() { socketloop.resume(waiter, 42) })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class Socketloop {
  readonly copas: Copas
  private stopped = false

  constructor(copas: Copas) {
    this.copas = copas
  }

  private get runtime(): Runtime.Runtime {
    return this.copas.runtime
  }

  /** Wraps a fiberloop `Connection` (a wrapped socket is returned as it is). */
  readonly wrap = (socket: Parameters<Copas["wrap"]>[0]): ReturnType<Copas["wrap"]> => this.copas.wrap(socket)

  /**
   * Connects to `ip:port` (optionally from `localIp:localPort`) and resolves
   * with the socket; rejects with a `CopasError`.
   */
  readonly connect = async (ip: string, port: number, localIp?: string, localPort?: number): Promise<TcpSocket> => {
    const socket = new TcpSocket(this.runtime, undefined)
    await socket.connect(ip, port, localIp, localPort)
    return socket
  }

  /** Creates a thread running `handler(arg)` and runs it at once, until its first blocking call. */
  readonly newthread = (handler: Threads.Body, arg?: unknown): Threads.Thread =>
    this.runtime.spawn(handler, [arg], { defer: false })

  /** The running thread, if any. */
  readonly current = (): Threads.Thread | undefined => this.runtime.currentThread()

  /** Parks the current thread until `resume(thread, arg)`; resolves with `arg`. */
  readonly suspend = (): Promise<unknown> =>
    this.runtime.call(
      (t) => t === undefined ? (() => { throw copasError("suspend: not called from a thread") })() : this.runtime.suspend(t),
      "run"
    )

  /**
   * Resumes a thread parked by `suspend`, with `arg` as `suspend`'s result.
   * Throws for a thread that is not suspended.
   */
  readonly resume = (thread: Threads.Thread, arg?: unknown): void => {
    if (!this.runtime.resumeWith(thread as Threads.ThreadImpl, arg)) throw copasError("cannot resume a thread that is not suspended")
  }

  /** Serves `ip:port`, running `handler(socket)` in a new thread per client (at once). */
  readonly newserver = (ip: string, port: number, handler: Threads.Body): Promise<Server> =>
    this.copas.addserver({ host: ip, port }, handler)

  /**
   * Waits up to `timeout` seconds for socket events and runs what is ready;
   * resolves true, or undefined when no socket is pending.
   */
  readonly step = async (timeout?: number): Promise<true | undefined> => {
    const rt = this.runtime
    if (rt.servers + rt.counts.reading + rt.counts.writing + rt.counts.resumable + rt.counts.sleeping === 0) {
      return undefined
    }
    await rt.step(timeout, true)
    return true
  }

  /** Steps until `step` finds nothing pending or `stop` is called. */
  readonly start = async (timeout?: number): Promise<void> => {
    this.stopped = false
    while (!this.stopped && (await this.step(timeout)) === true) {
      // each step dispatched something
    }
  }

  /** Makes `start` return after the current step. */
  readonly stop = (): void => {
    this.stopped = true
    this.runtime.notify()
  }
}

/**
 * A socketloop instance over a Copas instance's runtime.
 *
 * **Example** (Over a test's own Copas instance)
 *
 * ```ts
 * const loop = make(Copas.make())
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (copas: Copas): Socketloop => new Socketloop(copas)

const defaultKey = Symbol.for("fiberloop/coro/socketloop")

/**
 * The process's socketloop, over the process's Copas instance.
 *
 * **Example** (Lua's `local loop = require("socketloop")`)
 *
 * ```ts
 * import { socketloop } from "fiberloop/coro"
 * socketloop.newthread(async () => { const s = await socketloop.connect("127.0.0.1", 7000) })
 * await socketloop.start()
 * ```
 *
 * @category instances
 * @since 0.1.0
 */
export const socketloop: Socketloop = new Proxy({} as Socketloop, {
  get: (_, key) => (((globalThis as any)[defaultKey] ??= make(getDefault())) as any)[key]
})
