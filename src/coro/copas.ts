/**
 * The Copas API (Copas 4.11) for async functions and generator coroutines.
 *
 * `copas` is the process's instance, on `Loop.layer`; `make` builds others
 * (tests, or an Effect program's services with `makeEffect`). Names,
 * arguments and semantics are Copas's (see docs/coro.md for the table):
 * `addthread` defers the body to the next step, `pause()` yields for one
 * step, `loop` returns when nothing is left and runs the two-phase exit,
 * errors in a thread go to its error handler and never stop the loop, a
 * server handler's socket is closed when the handler ends. Times are
 * seconds. Blocking calls return promises that resolve with Copas's first
 * value and reject with a `CopasError` carrying Copas's error string (use
 * `tuple` for Lua's `value, err, partial`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Connection from "../net/Connection.ts"
import * as HttpRequest from "../net/HttpRequest.ts"
import * as Tcp from "../net/Tcp.ts"
import type * as Tls from "../net/Tls.ts"
import { copasError } from "./Errors.ts"
import * as Runtime from "./Runtime.ts"
import type * as Threads from "./Thread.ts"
import { bindUdp, type SslParams, TcpSocket, UdpSocket, upgradeOptions } from "./Socket.ts"
import { ERROR, type Future, Lock, makeFuture, PENDING, Queue, Semaphore, SUCCESS, Timer, type TimerOptions } from "./Sync.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * A listening TCP server (`copas.bind`, `addserver`).
 *
 * **Example** (Reading the port)
 *
 * ```ts
 * const server = await copas.addserver({ host: "127.0.0.1", port: 0 }, handler)
 * console.log(server.address.port)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Server {
  /** Copas `getsocketname`/`setsocketname`: prefixes client and handler names. */
  name: string
  /** The bound address: read the port here after binding port 0. */
  readonly address: Connection.Address
  /** fiberloop's server: counters. */
  readonly server: Tcp.Server
}

/**
 * Options for binding a server with `addserver` or `bind`.
 *
 * **Example** (At most 1000 clients at once)
 *
 * ```ts
 * await copas.addserver({ host: "0.0.0.0", port: 7000, maxConnections: 1000 }, handler)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface BindOptions {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly backlog?: number | undefined
  /** Serve TLS (handshake in each handler's fiber before the handler runs). */
  readonly tls?: Tls.ServerOptions | undefined
  /** Connections served at once (fiberloop); more wait. */
  readonly maxConnections?: number | undefined
}

/**
 * Copas `status()`: threads by state and what keeps the loop alive.
 *
 * **Example** (Printing it)
 *
 * ```ts
 * const { threads, read, write } = copas.status()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Status {
  readonly running: boolean
  /** Threads reading, plus servers. */
  readonly read: number
  readonly write: number
  /** Resumable threads. */
  readonly active: number
  /** Threads in a timed pause, plus armed timers. */
  readonly timer: number
  /** Threads parked without a timeout. */
  readonly inactive: number
  /** Armed `copas.timeout`s, plus threads waiting with a timeout. */
  readonly timeout: number
  /** Live threads. */
  readonly threads: number
  /** Open facade sockets. */
  readonly sockets: number
  /** Bytes received and sent by facade sockets. */
  readonly bytesRead: number
  readonly bytesWritten: number
}

type AnySocket = TcpSocket | UdpSocket

interface ServerImpl extends Server {
  handler: Threads.Body | undefined
  timeout: number | undefined
  clients: number
  scope: Scope.Closeable
  registered: boolean
}

let serverIds = 0

// =============================================================================
// Implementation
// =============================================================================

/**
 * A Copas instance: the API over one coroutine runtime. Every member is a
 * bound function, so `const { addthread, pause } = copas` works.
 *
 * **Example** (The echo server of the Copas manual)
 *
 * ```ts
 * import { copas } from "fiberloop/coro"
 *
 * await copas.addserver({ host: "127.0.0.1", port: 20000 }, async (skt) => {
 *   for (;;) {
 *     const data = await skt.receive()
 *     await skt.send(`${data}\n`)
 *   }
 * })
 * await copas.loop()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class Copas {
  readonly runtime: Runtime.Runtime

  constructor(runtime: Runtime.Runtime) {
    this.runtime = runtime
  }

  private thread(t?: Threads.Thread): Threads.ThreadImpl | undefined {
    return (t as Threads.ThreadImpl | undefined) ?? this.runtime.currentThread()
  }

  private self(what: string): Threads.ThreadImpl {
    const t = this.runtime.currentThread()
    if (t === undefined) throw copasError(`${what}: not called from a copas thread`)
    return t
  }

  // ---------------------------------------------------------------------------
  // Loop

  /**
   * Runs `init` as a thread named `copas_initializer`, then steps until
   * finished and exited. Called while a loop runs (a script under
   * `fiberloop run`), it only adds `init` and resolves at once.
   */
  readonly loop = (init?: Threads.Body, timeout?: number): Promise<void> => {
    if (init !== undefined) this.runtime.spawn(init, [], { name: "copas_initializer", defer: true })
    if (this.runtime.running) return Promise.resolve()
    return this.runtime.loop(timeout)
  }

  /** One scheduler step; resolves false when idle, true when socket events were handled. */
  readonly step = (timeout?: number): Promise<boolean> => this.runtime.step(timeout, true)

  /** Whether nothing is left to run. */
  readonly finished = (): boolean => this.runtime.finished()

  /** Whether `loop` is running. */
  get running(): boolean {
    return this.runtime.running
  }

  /** Sets the exiting flag and releases every `waitforexit` waiter. */
  readonly exit = (): void => this.runtime.exit()

  /** Whether `exit` was called (reset by each `loop`). */
  readonly exiting = (): boolean => this.runtime.exiting

  /** Waits (parked: it does not keep the loop alive) until `exit`. */
  readonly waitforexit = (): Promise<void> => this.runtime.call((t) => t === undefined ? Effect.void : this.runtime.waitForExit(t), "run")

  /** Drops every scheduled thread, closes sockets with blocked calls, removes servers, exits. */
  readonly cancelall = (): void => {
    for (const server of [...this.servers]) this.removeserver(server)
    this.runtime.cancelAll()
  }

  /**
   * Not in Copas: stops every server (running handlers go on) and calls
   * `exit`, so the loop ends once the remaining work is done. `fiberloop run`
   * does this on SIGINT/SIGTERM.
   */
  readonly shutdown = (): void => {
    for (const server of [...this.servers]) this.removeserver(server)
    this.runtime.exit()
  }

  /** Fractional epoch seconds. */
  readonly gettime = (): number => Date.now() / 1000

  /** Counts of threads by state, servers, timers, sockets and bytes. */
  readonly status = (): Status => {
    const rt = this.runtime
    const c = rt.counts
    let bytesRead = rt.bytesRead
    let bytesWritten = rt.bytesWritten
    for (const s of rt.sockets) {
      bytesRead += s.bytesRead
      bytesWritten += s.bytesWritten
    }
    return {
      running: rt.running,
      read: c.reading + rt.servers,
      write: c.writing,
      active: c.resumable,
      timer: c.sleeping + rt.timers,
      inactive: c.parked,
      timeout: rt.armed + c.timed,
      threads: rt.threads.size,
      sockets: rt.sockets.size,
      bytesRead,
      bytesWritten
    }
  }

  // ---------------------------------------------------------------------------
  // Threads

  /** Starts `fn(...args)` as a thread; its body starts at the next step. */
  readonly addthread = (fn: Threads.Body, ...args: Array<unknown>): Threads.Thread =>
    this.runtime.spawn(fn, args, { defer: true })

  /** `addthread` with a name. */
  readonly addnamedthread = (name: string, fn: Threads.Body, ...args: Array<unknown>): Threads.Thread =>
    this.runtime.spawn(fn, args, { name, defer: true })

  /** Removes a thread: it never runs again (an unknown or ended thread is ignored). */
  readonly removethread = (thread: Threads.Thread): void => this.runtime.remove(thread as Threads.ThreadImpl)

  /** The running thread (Lua's `coroutine.running()`), if any. */
  readonly current = (): Threads.Thread | undefined => this.runtime.currentThread()

  /**
   * Sleeps `seconds` and resolves with the seconds slept; without a positive
   * number, yields for one step.
   */
  readonly pause = (seconds?: number): Promise<number> => {
    const s = seconds === undefined || !(seconds > 0) ? 0 : seconds
    return this.runtime.call((t) => t === undefined ? Effect.die(copasError("pause: not called from a copas thread")) : this.runtime.pause(t, s), "run")
  }

  /** Parks until `wakeup`; resolves with the seconds slept. */
  readonly pauseforever = (): Promise<number> =>
    this.runtime.call((t) => t === undefined ? Effect.die(copasError("pauseforever: not called from a copas thread")) : this.runtime.pause(t, Infinity), "run")

  /** Deprecated Copas `sleep`: a negative time sleeps until `wakeup`. */
  readonly sleep = (seconds = 0): Promise<number> => seconds < 0 ? this.pauseforever() : this.pause(seconds)

  /**
   * Copas's `http.request`: `request(url, body?)` (GET, or POST with a body)
   * or `request({ url, method, headers, body | source, timeout, redirect,
   * maxredirects })`, as a blocking call of the current thread. Resolves with
   * `{ body, code, headers, status }`; rejects with a `CopasError` whose `err`
   * is Copas's string (`"timeout"`, `"Unallowed insecure redirect https to
   * http"`, ...) and whose `cause` is the `HttpRequestError`.
   *
   * **Example** (A request from a coroutine)
   *
   * ```ts
   * copas.addthread(async () => {
   *   const { body, code } = await copas.http.request("http://127.0.0.1:8080/")
   * })
   * ```
   */
  readonly http = {
    request: ((urlOrOptions: string | HttpRequest.Options, body?: string) =>
      this.runtime.call(
        () =>
          Effect.provide(
            typeof urlOrOptions === "string"
              ? HttpRequest.request(urlOrOptions, body)
              : HttpRequest.request(urlOrOptions),
            HttpRequest.layerClient
          ),
        "read"
      )) as {
        (url: string, body?: string | undefined): Promise<HttpRequest.Response>
        (options: HttpRequest.Options): Promise<HttpRequest.Response>
      }
  }

  /** Makes a paused or parked thread run at the next step (its `pause` resolves early). */
  readonly wakeup = (thread: Threads.Thread): void => this.runtime.wakeup(thread as Threads.ThreadImpl)

  /** Names a thread (default: the current one). */
  readonly setthreadname = (name: string, thread?: Threads.Thread): void => {
    const t = this.thread(thread)
    if (t !== undefined) t.name = name
  }

  /** A thread's name (default: the current one). */
  readonly getthreadname = (thread?: Threads.Thread): string | undefined => this.thread(thread)?.name

  /** Names a socket or server. */
  readonly setsocketname = (name: string, socket: AnySocket | Server): void => {
    socket.name = name
  }

  /** A socket's or server's name. */
  readonly getsocketname = (socket: AnySocket | Server): string => socket.name

  /**
   * Sets the current thread's error handler; with `isDefault`, the default
   * for every thread; without a handler, clears the current thread's.
   */
  readonly seterrorhandler = (handler?: Threads.ErrorHandler, isDefault = false): void => {
    if (isDefault) {
      if (handler === undefined) throw copasError("seterrorhandler: a default handler is required")
      this.runtime.defaultHandler = handler
      return
    }
    const t = this.self("seterrorhandler")
    t.errorHandler = handler
  }

  /** Old name of `seterrorhandler`. */
  readonly setErrorHandler = (handler?: Threads.ErrorHandler, isDefault = false): void =>
    this.seterrorhandler(handler, isDefault)

  /** A thread's error handler, else the default one. */
  readonly geterrorhandler = (thread?: Threads.Thread): Threads.ErrorHandler =>
    this.thread(thread)?.errorHandler ?? this.runtime.defaultHandler

  /** The default handler's text: message, thread and socket names, stack. */
  readonly gettraceback = (error: unknown, thread?: Threads.Thread, socket?: Threads.Named): string =>
    Runtime.traceback(error, thread ?? this.runtime.currentThread(), socket)

  /**
   * Calls `callback(thread)` after `delay` seconds unless called again (one
   * per thread; 0 or Infinity cancels). Errors go to the default handler.
   */
  readonly timeout = (delay: number, callback?: (thread: Threads.Thread) => unknown): true => {
    this.runtime.setTimeout(this.self("timeout"), delay, callback)
    return true
  }

  /**
   * Copas's switch between `"timeout"` and the raw socket library's timeout
   * messages. fiberloop's sockets have one timeout message, `"timeout"` (no
   * `"wantread"`/`"wantwrite"`: no non-blocking layer shows through), so both
   * settings read the same; kept so ported code runs unchanged.
   */
  readonly useSocketTimeoutErrors = (_enabled: boolean): void => {
    this.self("useSocketTimeoutErrors")
  }

  /** Lowercase alias of `useSocketTimeoutErrors`. */
  readonly usesockettimeouterrors = (enabled: boolean): void => this.useSocketTimeoutErrors(enabled)

  // ---------------------------------------------------------------------------
  // Sockets

  /** An unconnected TCP socket (LuaSocket `socket.tcp()`, wrapped): `connect` it. */
  readonly tcp = (sslparams?: SslParams): TcpSocket =>
    new TcpSocket(this.runtime, undefined, sslparams === undefined ? undefined : { ssl: sslparams })

  /**
   * Copas `wrap`: a fiberloop `Connection` (from Effect code) becomes a
   * wrapped socket; a wrapped socket is returned as it is (with `sslparams`
   * kept for `connect`).
   */
  readonly wrap = <S extends AnySocket | Connection.Connection>(
    socket: S,
    sslparams?: SslParams
  ): S extends Connection.Connection ? TcpSocket : S => {
    if (socket instanceof TcpSocket || socket instanceof UdpSocket) return socket as any
    return new TcpSocket(this.runtime, socket as Connection.Connection, {
      owned: false,
      ...(sslparams !== undefined && { ssl: sslparams })
    }) as any
  }

  /** Copas `connect(skt, host, port)`. */
  readonly connect = (socket: TcpSocket, host: string, port: number): Promise<1> => socket.connect(host, port)

  /** Copas `receive(skt, pattern, prefix)`. */
  readonly receive = (socket: TcpSocket, pattern?: "*l" | "*a" | number, prefix?: string): Promise<string> =>
    socket.receive(pattern, prefix)

  /** Copas `receivepartial(skt, pattern, prefix)`. */
  readonly receivepartial = (socket: TcpSocket, pattern?: "*l" | "*a" | number, prefix?: string): Promise<string> =>
    socket.receivepartial(pattern, prefix)

  /** Copas `send(skt, data, i, j)`. */
  readonly send = (socket: TcpSocket, data: string | Uint8Array, i?: number, j?: number): Promise<number> =>
    socket.send(data, i, j)

  /** Copas `close(skt)`. */
  readonly close = (socket: AnySocket): unknown => socket.close()

  /** Copas `dohandshake(skt, sslparams)`. */
  readonly dohandshake = (socket: TcpSocket, sslparams: SslParams): Promise<TcpSocket> => socket.dohandshake(sslparams)

  /** A UDP socket bound to `host:port` (LuaSocket `socket.udp()` + `setsockname`). */
  readonly udp = (host?: string, port?: number): Promise<UdpSocket> => bindUdp(this.runtime, host, port)

  /**
   * Copas `handler(fn, sslparams)`: a handler that performs the server side
   * of a TLS handshake on the accepted socket, then runs `fn(socket)`.
   */
  readonly handler = (fn: Threads.Body, sslparams?: SslParams): Threads.Body => {
    if (sslparams === undefined) return fn
    const params: SslParams = { ...sslparams, mode: "server" }
    return function*(socket: TcpSocket, ...rest: Array<unknown>): Generator<unknown, unknown, unknown> {
      yield socket.dohandshake(params)
      const r = fn(socket, ...rest) as any
      if (r !== null && typeof r === "object" && typeof r.next === "function" && typeof r.throw === "function") {
        return yield* r
      }
      return yield r
    }
  }

  private readonly servers = new Set<ServerImpl>()

  /** Binds a TCP server (LuaSocket `socket.bind`); `addserver` serves it. */
  readonly bind = (host?: string, port?: number, options?: BindOptions): Promise<Server> =>
    this.listen({ ...options, host, port })

  private listen(options: BindOptions): Promise<ServerImpl> {
    const scope = Scope.makeUnsafe()
    const runtime = this.runtime
    const impl: { current?: ServerImpl } = {}
    const dispatch = (conn: Connection.Connection): Effect.Effect<void> =>
      Effect.suspend(() => {
        const server = impl.current!
        const handler = server.handler
        if (handler === undefined) return Effect.void
        const k = ++server.clients
        const socket = new TcpSocket(runtime, conn, { name: `${server.name}:client_${k}`, owned: false })
        if (server.timeout !== undefined) socket.settimeout(server.timeout)
        const thread = runtime.makeThread(`${server.name}:handler_${k}`)
        thread.socket = socket
        thread.onEnd = () => socket.close()
        return runtime.drive(thread, handler, [socket], false)
      })
    const tls = options.tls === undefined ? undefined : (upgradeOptions({ mode: "server", tls: options.tls }, undefined) as { server: Tls.ServerOptions }).server
    const serve = Tcp.serve({
      handler: dispatch,
      drainTimeout: "1 day",
      ...(options.host !== undefined && { host: options.host }),
      ...(options.port !== undefined && { port: options.port }),
      ...(options.backlog !== undefined && { backlog: options.backlog }),
      ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }),
      ...(tls !== undefined && { tls })
    })
    return Effect.runPromiseWith(runtime.context)(Scope.provide(serve, scope)).then((server) => {
      const s: ServerImpl = {
        name: `server: ${++serverIds}`,
        address: server.address,
        server,
        handler: undefined,
        timeout: undefined,
        clients: 0,
        scope,
        registered: false
      }
      impl.current = s
      return s
    }, (error) => {
      Effect.runFork(Scope.close(scope, Exit.void))
      throw copasError(error?._tag === "AddressInUse" ? "address already in use" : String(error?.message ?? error), {
        cause: error
      })
    })
  }

  /**
   * Copas `addserver`: serves `server` (from `bind`, or bound here from
   * `{ host, port }`) or a UDP socket, running `handler(socket)` as a thread
   * per client (`<name>:handler_K`; UDP: one thread `<name>:handler`).
   * Accepted sockets get `timeout`; each is closed when its handler ends.
   * Resolves with the server. A registered server keeps the loop alive.
   */
  readonly addserver: {
    (server: UdpSocket, handler: Threads.Body, timeout?: number, name?: string): Promise<UdpSocket>
    (server: Server | BindOptions, handler: Threads.Body, timeout?: number, name?: string): Promise<Server>
  } = async (
    server: Server | BindOptions | UdpSocket,
    handler: Threads.Body,
    timeout?: number,
    name?: string
  ): Promise<any> => {
    if (server instanceof UdpSocket) {
      if (name !== undefined) server.name = name
      server.keepOpen = true
      if (timeout !== undefined) server.settimeout(timeout)
      this.runtime.spawn(handler, [server], { name: `${server.name}:handler`, defer: true })
      return server
    }
    this.runtime.servers++
    let impl: ServerImpl
    try {
      impl = "server" in server ? (server as ServerImpl) : await this.listen(server)
    } catch (error) {
      this.runtime.servers--
      this.runtime.notify()
      throw error
    }
    if (name !== undefined) impl.name = name
    impl.handler = handler
    impl.timeout = timeout
    if (impl.registered) this.runtime.servers--
    impl.registered = true
    this.servers.add(impl)
    return impl
  }

  /**
   * Copas `removeserver`: stops serving; the server closes (running handlers
   * go on) and 1 is returned, or with `keepOpen` it stays bound (connections
   * wait unserved) and can be added again; then true is returned.
   */
  readonly removeserver = (server: Server, keepOpen = false): 1 | true => {
    const impl = server as ServerImpl
    if (impl.registered) {
      impl.registered = false
      this.servers.delete(impl)
      this.runtime.servers--
      this.runtime.notify()
    }
    impl.handler = undefined
    if (keepOpen) return true
    Effect.runFork(Scope.close(impl.scope, Exit.void))
    return 1
  }

  // ---------------------------------------------------------------------------
  // Sync objects

  /** Copas `copas.lock`. */
  readonly lock = {
    new: (timeout?: number, notReentrant?: boolean): Lock => new Lock(this.runtime, timeout, notReentrant)
  }

  /** Copas `copas.semaphore`. */
  readonly semaphore = {
    new: (max: number, start?: number, timeout?: number): Semaphore => new Semaphore(this.runtime, max, start, timeout)
  }

  /** Copas `copas.queue`. */
  readonly queue = {
    new: (options?: { readonly name?: string | undefined }): Queue => new Queue(this.runtime, options)
  }

  /** Copas `copas.timer`. */
  readonly timer = {
    new: (options: TimerOptions): Timer => new Timer(this.runtime, options)
  }

  /** Copas `copas.future`. */
  readonly future = {
    addthread: (fn: Threads.Body, ...args: Array<unknown>): Future => makeFuture(this.runtime, undefined, fn, args),
    addnamedthread: (name: string, fn: Threads.Body, ...args: Array<unknown>): Future =>
      makeFuture(this.runtime, name, fn, args),
    PENDING,
    SUCCESS,
    ERROR
  } as const

  // ---------------------------------------------------------------------------
  // Bridges

  /**
   * Runs an Effect from a coroutine, in the thread's fiber, on the runtime's
   * services: resolves with its value, rejects with its error as it is.
   */
  readonly fromEffect = <A, E>(effect: Effect.Effect<A, E, Threads.Services>): Promise<A> =>
    this.runtime.call(() => effect, "run", false)

  /**
   * A coroutine as an Effect: `fn(...args)` runs as a thread in the fiber
   * that runs the Effect; the Effect succeeds with its result and fails with
   * what it throws.
   */
  readonly toEffect = <A = unknown>(fn: Threads.Body, ...args: Array<unknown>): Effect.Effect<A, unknown> =>
    this.runtime.asEffect(fn, args) as Effect.Effect<A, unknown>
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * A Copas instance over its own runtime on `Loop.layer` (or over `runtime`).
 *
 * **Example** (An instance for a test)
 *
 * ```ts
 * const c = make()
 * c.addthread(async () => { await c.pause(0.1) })
 * await c.loop()
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (runtime?: Runtime.Runtime): Copas => new Copas(runtime ?? Runtime.makeDefault())

/**
 * A Copas instance over the services of the Effect program that runs this,
 * so coroutines and Effect code share servers, DNS and sockets.
 *
 * **Example** (Moving to Effect one handler at a time)
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const c = yield* makeEffect
 *   yield* Effect.promise(() => c.loop(legacyMain))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeEffect: Effect.Effect<Copas, never, Threads.Services> = Effect.map(
  Effect.context<Threads.Services>(),
  (context) => new Copas(Runtime.make(context))
)

const defaultKey = Symbol.for("fiberloop/coro/copas")

/**
 * The process's Copas instance (made on first use, shared by every copy of
 * this module): `fiberloop run` runs its loop.
 *
 * **Example** (Lua's `local copas = require("copas")`)
 *
 * ```ts
 * import { copas } from "fiberloop/coro"
 * copas.addthread(async () => console.log("slept", await copas.pause(1)))
 * await copas.loop()
 * ```
 *
 * @category instances
 * @since 0.1.0
 */
export const getDefault = (): Copas => ((globalThis as any)[defaultKey] ??= make())

/**
 * The process's Copas instance as a value: every member is read from
 * `getDefault()` when used.
 *
 * **Example** (Destructuring it)
 *
 * ```ts
 * const { addthread, pause } = copas
 * addthread(async () => pause(1))
 * ```
 *
 * @category instances
 * @since 0.1.0
 */
export const copas: Copas = new Proxy({} as Copas, {
  get: (_, key) => (getDefault() as any)[key],
  has: (_, key) => key in getDefault()
})
