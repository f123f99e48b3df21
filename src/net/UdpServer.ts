/**
 * The UDP server behind `Udp.serve`: a handler per datagram, each in a fiber
 * of its own, with a concurrency limit, counters and failure reports.
 *
 * Each datagram's handler starts straight from the socket's `'message'` event
 * (no receive-loop fiber to wake per datagram); at the `concurrency` limit
 * datagrams wait in the socket's bounded buffer. Handlers get the datagram and
 * a `reply` function, never the socket, so none can close it; a failing
 * handler is counted and reported and the server goes on. Each handler has a
 * `Scope` of its own, closed when it ends. Closing the server's scope stops
 * taking datagrams, lets running handlers finish for up to `drainTimeout`,
 * then interrupts the rest. The handler bookkeeping is the one every fiberloop
 * server shares (`internal/HandlerSet`).
 *
 * The public types are re-exported by `Udp`; users reach the server through
 * `Udp.serve`.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Dgram from "node:dgram"
import { counts } from "../internal/counters.ts"
import type * as DatagramBuffer from "./DatagramBuffer.ts"
import * as HandlerSet from "./internal/HandlerSet.ts"
import type { AddressInfo, BindError, BindOptions, Datagram, ReceiveError, SendError } from "./Udp.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * A datagram as a server handler sees it: the payload, the sender, and `reply`,
 * which sends back to the sender through the server's socket. The handler
 * never holds the socket, so it cannot close it.
 *
 * **Example** (Echo)
 *
 * ```ts
 * const handler = ({ data, reply }: Udp.Incoming) => reply(data)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Incoming extends Datagram {
  /** Sends `data` back to the datagram's sender. */
  readonly reply: (data: Uint8Array | string) => Effect.Effect<void, SendError>
}

/**
 * Options for `serve`: where to bind, the handler, and how many handlers may
 * run at once.
 *
 * **Example** (A bounded echo server)
 *
 * ```ts
 * const options: Udp.ServeOptions<never, never> = {
 *   host: "127.0.0.1",
 *   port: 0,
 *   concurrency: 64,
 *   handler: ({ data, reply }) => reply(data)
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServeOptions<E, R> extends BindOptions {
  /**
   * Runs once per datagram, in its own fiber, with a `Scope` of its own that
   * closes when the handler ends. Its failures are reported, never stop the server.
   */
  readonly handler: (datagram: Incoming) => Effect.Effect<unknown, E, R>
  /**
   * Handlers running at once (default 1024). At the limit the server stops
   * taking datagrams; they wait in the receive buffer, and beyond its capacity
   * they are dropped and counted. Named as Effect names fiber parallelism
   * (`Effect.forEach(..., { concurrency })`): a datagram is not a connection,
   * so TCP's `maxConnections` would mislead.
   */
  readonly concurrency?: number | "unbounded" | undefined
  /** Called with a failed handler's cause, in addition to the log (warning level; debug for network conditions). */
  readonly onError?: ((cause: Cause.Cause<E>, datagram: Datagram) => Effect.Effect<void>) | undefined
  /** How long closing the server waits for running handlers before interrupting them. Default 5 seconds. */
  readonly drainTimeout?: Duration.Input | undefined
}

/**
 * A running UDP server: its bound address and counters.
 *
 * **Example** (Reading the port and the counters)
 *
 * ```ts
 * const server = yield* Udp.serve({ host: "127.0.0.1", handler })
 * server.address.port // => 41234
 * server.received // => 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface UdpServer {
  /** Where the server is bound. */
  readonly address: AddressInfo
  /** Datagrams taken and handed to a handler. */
  readonly received: number
  /** Handlers that failed or died (interruption at shutdown does not count). */
  readonly failures: number
  /** Handlers running now. */
  readonly active: number
  /** Datagrams dropped because the receive buffer was full. */
  readonly dropped: number
}

// =============================================================================
// Server
// =============================================================================

/**
 * What the server needs of a bound socket: its receive buffer, and hooks that
 * take each datagram and each receive error instead of the buffer.
 *
 * **Example** (The socket `Udp.bind` makes)
 *
 * ```ts
 * const serve = UdpServer.serveWith(bind) // bind: (options) => Effect<ServedSocket, BindError, Scope>
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServedSocket {
  /** Where the socket is bound. */
  readonly localAddress: AddressInfo
  /** Datagrams dropped because the receive buffer was full. */
  readonly dropped: number
  /** The socket's receive buffer; the server parks datagrams there at its concurrency limit. */
  readonly buffer: DatagramBuffer.DatagramBuffer<Datagram, ReceiveError>
  /** Takes each datagram instead of the receive buffer, while set. */
  sink: ((data: Buffer, info: Dgram.RemoteInfo) => void) | undefined
  /** Takes receive errors instead of the next operation, while set. */
  onError: ((error: ReceiveError) => void) | undefined
  /** Sends to an IP literal (the path `reply` takes). */
  sendToHost(data: Uint8Array | string, host: string, port: number): Effect.Effect<void, SendError>
}

class UdpServerImpl implements UdpServer {
  received = 0
  readonly socket: ServedSocket
  readonly handlers: HandlerSet.HandlerSet<Incoming, any, any>
  constructor(socket: ServedSocket, handlers: HandlerSet.HandlerSet<Incoming, any, any>) {
    this.socket = socket
    this.handlers = handlers
  }
  get address(): AddressInfo {
    return this.socket.localAddress
  }
  get dropped(): number {
    return this.socket.dropped
  }
  get failures(): number {
    return this.handlers.failed
  }
  get active(): number {
    return this.handlers.size
  }
}

/**
 * Makes `serve` on top of a `bind`: binds a socket per call and runs the
 * handler per datagram until the scope closes.
 *
 * **Example** (How `Udp.make` builds its `serve`)
 *
 * ```ts
 * Udp.of({ bind, serve: UdpServer.serveWith(bind) })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const serveWith = (
  bind: (options: BindOptions) => Effect.Effect<ServedSocket, BindError, Scope.Scope>
) =>
  Effect.fn("Udp.serve")(
    function*<E, R>(
      options: ServeOptions<E, R>
    ): Effect.fn.Return<UdpServer, BindError, Scope.Scope | Exclude<R, Scope.Scope>> {
      const socket = yield* bind(options)
      const concurrency = options.concurrency ?? 1024
      const limit = concurrency === "unbounded" ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(concurrency) || 1)
      const handler = options.handler as (datagram: Incoming) => Effect.Effect<unknown, E, any>
      const buffer = socket.buffer
      let draining = false

      const handlers = yield* HandlerSet.make<Incoming, E, Exclude<R, Scope.Scope>>({
        name: "Udp.serve",
        onError: options.onError,
        peerOf: (datagram) => `${datagram.address}:${datagram.port}`,
        ended: () => drain(),
        drainTimeout: options.drainTimeout,
        tally: undefined
      })
      const server = new UdpServerImpl(socket, handlers)

      // Runs a handler at once, in a fiber of its own; it may finish synchronously.
      const start = (incoming: Incoming): void => {
        server.received++
        handlers.run(handler, incoming)
      }

      // Starts buffered datagrams while there is room; a loop, not a recursion.
      const drain = (): void => {
        if (draining) return
        draining = true
        try {
          while (handlers.size < limit && socket.sink !== undefined) {
            const incoming = buffer.pollUnsafe()
            if (incoming === undefined) break
            // everything in a server's buffer was made by `sink` below
            start(incoming as Incoming)
          }
        } finally {
          draining = false
        }
      }

      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          socket.sink = undefined
          socket.onError = undefined
          return handlers.close
        })
      )
      socket.onError = (error) => handlers.fork(Effect.logWarning("Udp.serve: receive failed", error))
      socket.sink = (data, info) => {
        const address = info.address
        const port = info.port
        const incoming: Incoming = {
          data,
          address,
          port,
          family: info.family,
          reply: (reply) => socket.sendToHost(reply, address, port)
        }
        if (handlers.size < limit && buffer.size === 0) start(incoming)
        else if (!buffer.offerUnsafe(incoming)) counts.udpDropped++
      }
      return server
    }
  )
