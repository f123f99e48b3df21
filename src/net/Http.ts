/**
 * HTTP servers on fiberloop's TCP server: effect/http apps and fetch handlers.
 *
 * fiberloop parses no HTTP and routes nothing. Each accepted connection
 * passes through `Tcp.serve` (`maxConnections` and its waiting room, TLS with
 * ALPN, drain) and its socket is then handed to a `node:http` server that
 * never listens, which parses requests (keep-alive, pipelining,
 * `Expect: 100-continue`, header and request timeouts); Effect's own Node
 * adapter (`NodeHttpServer.makeHandler`) runs the effect/http app per request.
 * A connection is still a fiber: it lives until its socket closes, and holds
 * one of the `maxConnections` slots until then. Over TLS with `http2: true`,
 * clients that negotiate `h2` through ALPN are served by `node:http2`.
 *
 * Closing the server: new connections are refused, idle keep-alive sockets
 * close at once, requests in flight finish (their responses carry
 * `Connection: close`, HTTP/2 sessions get GOAWAY), and whatever is still open
 * after `drainTimeout` is closed.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as NodeWS from "@effect/platform-node/NodeWS"
import * as NodeHttpPlatform from "@effect/platform-node/NodeHttpPlatform"
import * as ByteSize from "effect/ByteSize"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Etag from "effect/http/Etag"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import type * as HttpMiddleware from "effect/http/HttpMiddleware"
import type * as HttpPlatform from "effect/http/HttpPlatform"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import * as NodeHttp from "node:http"
import * as Http2 from "node:http2"
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import type * as Connection from "./Connection.ts"
import { detachUnsafe } from "./Connection.ts"
import type { AddressInUse, SocketError, TlsError } from "./Errors.ts"
import * as HttpFetch from "./HttpFetch.ts"
import * as HttpMetrics from "./HttpMetrics.ts"
import { reject413 } from "./internal/webRequest.ts"
import * as Stats from "../Stats.ts"
import * as Tcp from "./Tcp.ts"
import * as Tls from "./Tls.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * Options of an HTTP server: those of `Tcp.serve` (but the handler, which
 * the app supplies, and the per-read timeouts, which HTTP's own replace), and
 * HTTP's limits.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Omit<Tcp.ServeOptions<never, never>, "handler" | "onError" | keyof Connection.Options> {
  /** Largest request body: a larger `Content-Length` gets `413` before the app runs; a body read past it fails with `413`. Default 10 MiB. */
  readonly maxBodySize?: ByteSize.Input | undefined
  /** Time to receive a request's headers (slowloris guard); then `408` and close. Default 20 seconds. */
  readonly headersTimeout?: Duration.Input | undefined
  /** Time to receive a whole request, headers and body; then `408` and close. Default 5 minutes. */
  readonly requestTimeout?: Duration.Input | undefined
  /** How long an idle keep-alive connection stays open between requests. Default 5 seconds. */
  readonly keepAliveTimeout?: Duration.Input | undefined
  /** Largest request head (request line and headers) in bytes; larger gets `431`. Default 16 KiB. */
  readonly maxHeaderSize?: number | undefined
  /** Requests served on one connection before it closes. Default: no limit. */
  readonly maxRequestsPerSocket?: number | undefined
  /**
   * Over TLS, offer HTTP/2 through ALPN (`["h2", "http/1.1"]` unless `tls`
   * sets `alpn`); clients that pick `h2` are served by `node:http2`.
   */
  readonly http2?: boolean | undefined
  /** Answer `GET <path>` (default `/metrics`) with every Effect metric in Prometheus text format, before the app. */
  readonly metrics?: boolean | { readonly path?: string | undefined } | undefined
  /** Record a span per connection (`http.connection`: peer, bytes, TLS, outcome) with the current tracer. Default false. */
  readonly connectionSpans?: boolean | undefined
}

/**
 * A listening HTTP server: the TCP server's address and counters, and the
 * effect/http `HttpServer` service backed by it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Server extends Tcp.Server {
  /** `http://host:port` or `https://host:port` (IPv6 hosts in brackets); `http+unix://<encoded path>` on a Unix socket. */
  readonly url: string
  /** effect/http's service: `serve(app)` installs the app; until then requests wait. */
  readonly http: HttpServer.HttpServer["Service"]
  /**
   * Installs a fetch handler instead: straight from Node's request, without a
   * fiber per request (`HttpFetch.toNodeListener`), unless a tracer is
   * installed, when each request runs as a traced effect/http request.
   */
  readonly serveFetch: (handler: HttpFetch.FetchHandler) => Effect.Effect<void, never, Scope.Scope>
}

// =============================================================================
// Node's server objects, never listening
// =============================================================================

const millis = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

const ignoreError = (): void => {}

/** The response on a socket, while one is being written. */
interface SocketWithResponse extends Net.Socket {
  _httpMessage?: NodeHttp.ServerResponse | null
}

/** What node:http2 reads of a TLS socket. */
interface SecureSocket extends Net.Socket {
  readonly alpnProtocol?: string | false
}

/** An http.Server that parses the sockets it is given; it never listens. */
const makeHttp1 = (options: Options): NodeHttp.Server => {
  const headersTimeout = millis(options.headersTimeout, 20_000)
  const requestTimeout = millis(options.requestTimeout, 300_000)
  const server = NodeHttp.createServer({
    headersTimeout: requestTimeout === 0 ? headersTimeout : Math.min(headersTimeout, requestTimeout),
    requestTimeout,
    keepAliveTimeout: millis(options.keepAliveTimeout, 5_000),
    // how often Node checks the two timeouts above
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, headersTimeout / 4)),
    maxHeaderSize: options.maxHeaderSize ?? 16_384,
    ...(options.maxRequestsPerSocket !== undefined && { maxRequestsPerSocket: options.maxRequestsPerSocket })
  })
  // 'listening' starts Node's connection tracking: header and request timeouts, closeIdleConnections
  server.emit("listening")
  return server
}

const makeHttp2 = (options: Options): Http2.Http2SecureServer => {
  const server = Http2.createSecureServer({ allowHTTP1: false })
  server.on("sessionError", ignoreError)
  const maxHeaderSize = options.maxHeaderSize
  if (maxHeaderSize !== undefined) server.updateSettings({ maxHeaderListSize: maxHeaderSize })
  return server
}

const withAlpn = (options: Options): Options["tls"] => {
  const tls = options.tls
  if (tls === undefined || options.http2 !== true || Tls.isServerContext(tls)) return tls
  return tls.alpn === undefined ? { ...tls, alpn: ["h2", "http/1.1"] } : tls
}

const formatUrl = (server: Tcp.Server): string => {
  if (server.path !== undefined) return `${server.tls === undefined ? "http" : "https"}+unix://${encodeURIComponent(server.path)}`
  const host = server.address.family === "IPv6" ? `[${server.address.host}]` : server.address.host
  return `${server.tls === undefined ? "http" : "https"}://${host}:${server.address.port}`
}

const tooLarge = (request: NodeHttp.IncomingMessage, max: number): boolean => {
  const length = request.headers["content-length"]
  return length !== undefined && Number(length) > max
}


// =============================================================================
// Server
// =============================================================================

/**
 * Listens with fiberloop's TCP server and returns the `HttpServer` of
 * effect/http on it (plus the TCP server's counters); `server.http.serve(app)`
 * then serves an app. Most programs use `serve` or `layer` instead.
 *
 * **Example** (Listening, then serving an app)
 *
 * ```ts
 * const server = yield* Http.make({ host: "127.0.0.1", port: 0, maxConnections: 1000 })
 * yield* server.http.serve(Effect.succeed(HttpServerResponse.text("hello")))
 * console.log(server.url) // => "http://127.0.0.1:40123"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: (
  options: Options
) => Effect.Effect<Server, AddressInUse | SocketError | TlsError, Scope.Scope | Tcp.Tcp> = Effect.fnUntraced(
  function*(options: Options) {
    const h1 = makeHttp1(options)
    const h2 = options.http2 === true && options.tls !== undefined ? makeHttp2(options) : undefined
    const sockets = new Set<SocketWithResponse>()
    const sessions = new Set<Http2.ServerHttp2Session>()
    const installed = Deferred.makeUnsafe<void>()
    const connectionSpans = options.connectionSpans === true
    let draining = false

    const drainMillis = millis(options.drainTimeout, 5_000)
    const drained = Deferred.makeUnsafe<void>()
    /** Refuses new connections and requests, closes idle ones, and asks the busy ones to close when done. */
    const startDrain = (): void => {
      if (draining) return
      draining = true
      // connections still waiting for an app go on to be closed
      Deferred.doneUnsafe(installed, Exit.void)
      h1.close() // stops Node's timeout checks and closes idle keep-alive sockets
      for (const session of sessions) session.close()
      for (const socket of sockets) {
        const response = socket._httpMessage
        if (response === undefined || response === null) continue
        if (!response.headersSent) response.shouldKeepAlive = false
        else response.once("finish", () => socket.destroySoon())
      }
      if (sockets.size === 0) Deferred.doneUnsafe(drained, Exit.void)
    }
    /** Drains, and waits up to `drainTimeout` for every connection to close. */
    const drain = Effect.suspend(() => {
      startDrain()
      return Deferred.await(drained).pipe(Effect.timeoutOrElse({ duration: drainMillis, orElse: () => Effect.void }))
    })

    h2?.on("session", (session: Http2.ServerHttp2Session) => {
      if (draining) return session.close()
      sessions.add(session)
      session.once("close", () => sessions.delete(session))
    })

    /** Hands the socket to Node's parser; the connection's fiber lives until the socket closes. */
    const handOver = (conn: Connection.Connection) =>
      Effect.callback<void>((resume) => {
        const { socket, unread } = detachUnsafe(conn)
        socket.on("error", ignoreError)
        if (socket.destroyed) return resume(Effect.void)
        socket.once("close", () => {
          sockets.delete(socket)
          if (draining && sockets.size === 0) Deferred.doneUnsafe(drained, Exit.void)
          resume(Effect.void)
        })
        if (draining) return void socket.destroy()
        if (unread.length > 0) socket.unshift(unread)
        sockets.add(socket)
        if (h2 !== undefined && (socket as SecureSocket).alpnProtocol === "h2") {
          h2.emit("secureConnection", socket)
        } else {
          h1.emit("connection", socket)
        }
        socket.resume()
        return Effect.sync(() => socket.destroy())
      })

    /** `handOver` in a span with the peer, TLS, bytes and outcome. */
    const traced = (conn: Connection.Connection) =>
      Effect.flatMap(Effect.orDie(Effect.currentSpan), (span) => {
        const remote = conn.remoteAddress
        const tls = conn.tls
        span.attribute("net.peer.ip", remote.host)
        span.attribute("net.peer.port", remote.port)
        if (tls !== undefined) {
          span.attribute("tls.protocol", tls.protocol ?? "")
          span.attribute("tls.alpn", tls.alpn ?? "")
        }
        return handOver(conn).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              span.attribute("net.bytes_read", conn.bytesRead)
              span.attribute("net.bytes_written", conn.bytesWritten)
              span.attribute("outcome", Exit.isSuccess(exit) ? "closed" : "interrupted")
            })
          )
        )
      }).pipe(Effect.withSpan("http.connection", { kind: "server", root: true }))

    const handler = connectionSpans
      ? (conn: Connection.Connection) => Effect.andThen(Deferred.await(installed), traced(conn))
      : (conn: Connection.Connection) => Effect.andThen(Deferred.await(installed), handOver(conn))

    // the connection's span is http.connection: Tcp.serve's own Tcp.connection span would be a second one
    const tcp = yield* Tcp.serve({ ...options, connectionSpans: false, tls: withAlpn(options), handler })

    // runs before Tcp.serve's finalizer (which waits for the connections' fibers, then interrupts them)
    yield* Effect.addFinalizer(() => Effect.sync(startDrain))

    const address = tcp.path !== undefined
      ? NetAddress.unixPathAddress(tcp.path)
      : yield* Effect.orDie(Effect.fromResult(NetAddress.inetAddressFromIpString(tcp.address.host, tcp.address.port)))
    const maxBodySize = options.maxBodySize === undefined
      ? ByteSize.mebibytes(10)
      : ByteSize.fromInputUnsafe(options.maxBodySize)
    const maxBody = ByteSize.toNumberUnsafe(maxBodySize)
    const metricsPath = options.metrics === undefined || options.metrics === false
      ? undefined
      : options.metrics === true
      ? "/metrics"
      : options.metrics.path ?? "/metrics"
    // made on the first upgrade request, closed with the server
    const wss = yield* Effect.acquireRelease(
      Effect.sync(() => new NodeWS.WebSocketServer({ noServer: true })),
      (wss) => Effect.callback<void>((resume) => void wss.close(() => resume(Effect.void)))
    ).pipe(Scope.provide(yield* Effect.scope), Effect.cached)

    /** Installs a Node request listener behind the common checks; it is removed, after a drain, with the scope. */
    const install = Effect.fnUntraced(function*(
      run: (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => void,
      upgrade: ((request: NodeHttp.IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined
    ) {
      const serveScope = yield* Effect.scope
      const services = yield* Effect.context<never>()
      const recorder = HttpMetrics.makeRecorder(services)
      // released last: after the drain below, when the requests in flight are counted
      yield* Scope.addFinalizer(serveScope, Effect.sync(recorder.release))
      const onRequest = (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse): void => {
        recorder.start(response)
        if (draining) response.shouldKeepAlive = false
        if (tooLarge(request, maxBody)) return reject413(response)
        if (metricsPath !== undefined && request.url === metricsPath && request.method === "GET") {
          Stats.flushUnsafe()
          return HttpMetrics.respond(response, services)
        }
        run(request, response)
      }
      const onContinue = (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse): void => {
        // answer a too large body before the client sends it
        if (!tooLarge(request, maxBody)) response.writeContinue()
        onRequest(request, response)
      }
      // requests in flight finish before the listeners go (and before the requests' scope closes)
      yield* Scope.addFinalizer(
        serveScope,
        Effect.ensuring(
          drain,
          Effect.sync(() => {
            h1.off("request", onRequest)
            h1.off("checkContinue", onContinue)
            if (upgrade !== undefined) h1.off("upgrade", upgrade)
            h2?.off("request", onRequest)
          })
        )
      )
      h1.on("request", onRequest)
      h1.on("checkContinue", onContinue)
      if (upgrade !== undefined) h1.on("upgrade", upgrade)
      h2?.on("request", onRequest)
      Deferred.doneUnsafe(installed, Exit.void)
    })

    const serve = Effect.fnUntraced(function*(
      app: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest | Scope.Scope>,
      middleware?: HttpMiddleware.HttpMiddleware
    ) {
      // the requests' fibers run in a scope that closes after the drain (its finalizer is added first)
      const scope = Scope.forkUnsafe(yield* Effect.scope, "parallel")
      const run = yield* NodeHttpServer.makeHandler(app, { middleware: middleware as any, scope }).pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize)
      )
      const upgrade = yield* NodeHttpServer.makeUpgradeHandler(wss, app, { middleware: middleware as any, scope })
      yield* install(run, upgrade)
    })

    const serveFetch = (handler: HttpFetch.FetchHandler) =>
      Effect.flatMap(Effect.service(Tracer.Tracer), (tracer) =>
        tracer === Tracer.nativeTracer
          ? install(HttpFetch.toNodeListener(handler, { maxBodySize: maxBody }), undefined)
          : serve(HttpFetch.fromFetch(handler)))

    return {
      ...tcp,
      url: formatUrl(tcp),
      http: HttpServer.make({ address, serve: serve as HttpServer.HttpServer["Service"]["serve"] as any }),
      serveFetch
    } satisfies Server
  }
)

/**
 * The app `serve` and `layer` take: an effect/http app (`HttpRouter.toHttpEffect`,
 * `HttpServerResponse` effects) or a fetch handler.
 *
 * @category models
 * @since 0.1.0
 */
export type App<E, R> =
  | { readonly app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>; readonly fetch?: undefined }
  | { readonly fetch: HttpFetch.FetchHandler; readonly app?: undefined }

/**
 * Serves an effect/http app or a fetch handler on a fiberloop server until the
 * scope closes.
 *
 * **Example** (A fetch handler)
 *
 * ```ts
 * const fetch = (request: Request) => new Response(`you asked for ${new URL(request.url).pathname}`)
 * const server = yield* Http.serve({ host: "127.0.0.1", port: 8080, fetch, maxConnections: 10_000 })
 * ```
 *
 * **Example** (An effect/http router)
 *
 * ```ts
 * const app = yield* HttpRouter.toHttpEffect(HttpRouter.add("GET", "/", HttpServerResponse.text("hi")))
 * yield* Http.serve({ port: 8080, app })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const serve: {
  (options: Options & { readonly fetch: HttpFetch.FetchHandler }): Effect.Effect<
    Server,
    AddressInUse | SocketError | TlsError,
    Scope.Scope | Tcp.Tcp
  >
  <E, R>(options: Options & { readonly app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> }): Effect.Effect<
    Server,
    AddressInUse | SocketError | TlsError,
    Exclude<R, HttpServerRequest.HttpServerRequest | Scope.Scope> | Scope.Scope | Tcp.Tcp
  >
} = (options: Options & App<unknown, unknown>): Effect.Effect<Server, AddressInUse | SocketError | TlsError, any> =>
  Effect.tap(
    make(options),
    (server) => options.fetch !== undefined ? server.serveFetch(options.fetch) : server.http.serve(options.app!)
  )

/**
 * effect/http's `HttpServer` (with the Node HTTP platform, ETags and Node's
 * services) backed by a fiberloop server, for the lifetime of the layer:
 * `HttpRouter.serve(routes)` runs on it unchanged.
 *
 * **Example** (An effect/http router on fiberloop)
 *
 * ```ts
 * const Routes = HttpRouter.add("GET", "/", HttpServerResponse.text("hello"))
 * HttpRouter.serve(Routes).pipe(
 *   Layer.provide(Http.layer({ port: 8080, maxConnections: 10_000 })),
 *   Layer.provide(Loop.layer),
 *   Layer.launch,
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | NodeServices.NodeServices,
  AddressInUse | SocketError | TlsError,
  Tcp.Tcp
> =>
  Layer.mergeAll(
    Layer.effect(HttpServer.HttpServer, Effect.map(make(options), (server) => server.http)),
    NodeHttpPlatform.layer,
    Etag.layerWeak,
    NodeServices.layer
  )

/**
 * The port of the `HttpServer` in context (e.g. one from `layer` with port 0).
 *
 * **Example** (Reading the port in a test)
 *
 * ```ts
 * const port = yield* Http.port
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const port: Effect.Effect<number, never, HttpServer.HttpServer> = Effect.map(
  Effect.service(HttpServer.HttpServer),
  (server) => (server.address as NetAddress.InetAddress).port
)
