/**
 * UDP sockets and servers: `receiveFrom`/`sendTo`, connected sockets,
 * broadcast and multicast, and a datagram server that runs a handler per
 * datagram in its own fiber.
 *
 * A socket is scoped: `bind` opens it in the caller's scope and closing the
 * scope closes it, failing every pending receiver with `SocketClosed`.
 * Received datagrams go into a per-socket buffer filled by Node's `'message'`
 * event, bounded in datagrams (`receiveQueueCapacity`, default 1024) and in
 * payload bytes (`receiveQueueBytes`, default 4 MiB); when it is full the
 * newest datagram is dropped and counted (`dropped`), so a slow reader never
 * grows the process. A send
 * resolves when `node:dgram` reports it handed to the kernel, and fails with a
 * typed condition: `MessageTooLarge` (checked before sending),
 * `ConnectionRefused` (an ICMP port unreachable on a connected socket),
 * `SocketClosed`, `SocketError`.
 *
 * Host names are resolved through Effect's `Dns` service, only when the
 * address is not an IP literal: sending to a literal never waits for a lookup.
 * The `Udp` service holds that dependency; `layer` needs a `Dns` layer such as
 * `NodeDns.layer`.
 *
 * `serve` runs a handler per datagram, each in a fiber of its own (the server
 * lives in `UdpServer.ts`; its types are re-exported here).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as NetAddress from "effect/net/NetAddress"
import * as Scope from "effect/Scope"
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import { countLookup, counts } from "../internal/counters.ts"
import * as Stats from "../Stats.ts"
import * as DatagramBuffer from "./DatagramBuffer.ts"
import * as Errors from "./Errors.ts"
import * as Server from "./UdpServer.ts"

export type { Incoming, ServeOptions, UdpServer } from "./UdpServer.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * The protocol family of a socket: `udp4` (IPv4) or `udp6` (IPv6).
 *
 * @category models
 * @since 0.1.0
 */
export type SocketType = "udp4" | "udp6"

/**
 * An endpoint: an IP literal, a port and its family.
 *
 * **Example** (A bound address)
 *
 * ```ts
 * socket.localAddress // => { address: "127.0.0.1", port: 41234, family: "IPv4" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface AddressInfo {
  /** The IP address, as a literal. */
  readonly address: string
  /** The UDP port. */
  readonly port: number
  /** The address family. */
  readonly family: "IPv4" | "IPv6"
}

/**
 * A received datagram and where it came from.
 *
 * **Example** (Reading the sender)
 *
 * ```ts
 * const { data, address, port } = yield* socket.receiveFrom()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Datagram extends AddressInfo {
  /** The payload (a Node `Buffer`), never copied. */
  readonly data: Uint8Array
}

/**
 * What a send may fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type SendError = Errors.ConnectionRefused | Errors.SocketClosed | Errors.MessageTooLarge | Errors.SocketError

/**
 * What a receive may fail with: `ConnectionRefused` on a connected socket
 * whose peer is not listening, `SocketClosed` once the socket is closed.
 *
 * @category errors
 * @since 0.1.0
 */
export type ReceiveError = Errors.ConnectionRefused | Errors.SocketClosed | Errors.SocketError

/**
 * What opening a socket may fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type BindError = Errors.AddressInUse | Errors.DnsError | Errors.SocketError

/**
 * What setting a socket option may fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type OptionError = Errors.SocketClosed | Errors.SocketError

/**
 * Options for `bind`.
 *
 * **Example** (A loopback socket on an ephemeral port)
 *
 * ```ts
 * const options: Udp.BindOptions = { host: "127.0.0.1", port: 0, receiveQueueCapacity: 4096 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface BindOptions {
  /** Local address: an IP literal or a host name. Default: every interface (`0.0.0.0` or `::`). */
  readonly host?: string | undefined
  /** Local port; `0` (the default) picks a free one, read it back from `localAddress`. */
  readonly port?: number | undefined
  /** Protocol family. Default: the family of an IP literal `host`, else `udp4`. */
  readonly type?: SocketType | undefined
  /** `SO_REUSEADDR`: several sockets may bind the same address (multicast receivers). */
  readonly reuseAddr?: boolean | undefined
  /** For `udp6`: accept IPv6 only, no IPv4-mapped addresses. */
  readonly ipv6Only?: boolean | undefined
  /** Kernel receive buffer (`SO_RCVBUF`), in bytes. */
  readonly recvBufferSize?: number | undefined
  /** Kernel send buffer (`SO_SNDBUF`), in bytes. */
  readonly sendBufferSize?: number | undefined
  /** Received datagrams held in the process before new ones are dropped. Default 1024. */
  readonly receiveQueueCapacity?: number | undefined
  /**
   * Payload bytes held in the process before new datagrams are dropped (a
   * datagram that would pass the bound is dropped and counted). Default 4 MiB.
   */
  readonly receiveQueueBytes?: number | undefined
  /** Largest datagram a send accepts, in bytes. Default and upper bound: 65507 (udp4), 65527 (udp6). */
  readonly maxDatagramSize?: number | undefined
}

/**
 * A bound UDP socket. Every operation is an `Effect`; nothing runs until it is
 * run, and the same value may be run again.
 *
 * **Example** (Request and reply)
 *
 * ```ts
 * const socket = yield* Udp.bind({ host: "127.0.0.1" })
 * yield* socket.sendTo("ping", "127.0.0.1", 9000)
 * const reply = yield* socket.receiveFrom()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface UdpSocket {
  /** The protocol family. */
  readonly type: SocketType
  /** Where the socket is bound (more precise after `connect`). */
  readonly localAddress: AddressInfo
  /** The connected peer, if `connect` succeeded. */
  readonly remoteAddress: AddressInfo | undefined
  /** Datagrams dropped because the receive buffer was full (`receiveQueueCapacity` or `receiveQueueBytes`). */
  readonly dropped: number
  /** Largest datagram `sendTo`/`send` accept, in bytes. */
  readonly maxDatagramSize: number
  /**
   * The next datagram with its sender, waiting when none is buffered.
   * Several fibers may wait; each datagram goes to one of them, in order.
   */
  receiveFrom(): Effect.Effect<Datagram, ReceiveError>
  /** The payload of the next datagram (from the connected peer, on a connected socket). */
  receive(): Effect.Effect<Uint8Array, ReceiveError>
  /**
   * Sends one datagram to `host:port`; resolves when it is handed to the
   * kernel. A host name is resolved first (through `Dns`); an IP literal is not.
   */
  sendTo(data: Uint8Array | string, host: string, port: number): Effect.Effect<void, SendError | Errors.DnsError>
  /**
   * Fixes the peer: the kernel then delivers only its datagrams, `send` needs
   * no address, and an ICMP port unreachable surfaces as `ConnectionRefused`.
   */
  connect(
    host: string,
    port: number
  ): Effect.Effect<void, Errors.ConnectionRefused | Errors.DnsError | Errors.SocketClosed | Errors.SocketError>
  /** Forgets the connected peer. */
  disconnect(): Effect.Effect<void, OptionError>
  /** Sends one datagram to the connected peer. */
  send(data: Uint8Array | string): Effect.Effect<void, SendError>
  /** `SO_BROADCAST`: allows sending to a broadcast address. */
  setBroadcast(flag: boolean): Effect.Effect<void, OptionError>
  /** The unicast hop limit (`IP_TTL`). */
  setTTL(ttl: number): Effect.Effect<void, OptionError>
  /** Joins a multicast group, on `interfaceAddress` or the kernel's choice. */
  addMembership(group: string, interfaceAddress?: string): Effect.Effect<void, OptionError>
  /** Leaves a multicast group. */
  dropMembership(group: string, interfaceAddress?: string): Effect.Effect<void, OptionError>
  /** The hop limit of multicast datagrams (`IP_MULTICAST_TTL`). */
  setMulticastTTL(ttl: number): Effect.Effect<void, OptionError>
  /** Whether this host receives its own multicast datagrams (`IP_MULTICAST_LOOP`). */
  setMulticastLoopback(flag: boolean): Effect.Effect<void, OptionError>
  /** The interface multicast datagrams leave by (`IP_MULTICAST_IF`). */
  setMulticastInterface(interfaceAddress: string): Effect.Effect<void, OptionError>
  /** Closes the socket now instead of at the end of its scope; idempotent. */
  readonly close: Effect.Effect<void>
}

// =============================================================================
// Errors
// =============================================================================

const maxPayload: Record<SocketType, number> = { udp4: 65507, udp6: 65527 }

const errorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null ? (error as Errors.NodeSystemError).code : undefined

const closedError = (operation: string, host?: string, port?: number, cause?: unknown): Errors.SocketClosed =>
  Errors.withoutStack(() => new Errors.SocketClosed({ operation, host, port, cause }))

const socketError = (error: unknown, host: string | undefined, port: number | undefined): Errors.SocketError =>
  Errors.withoutStack(() => {
    const e = (typeof error === "object" && error !== null ? error : {}) as Partial<Errors.NodeSystemError>
    return new Errors.SocketError({ host, port, code: e.code, errno: e.errno, syscall: e.syscall, cause: error })
  })

// Node reports use of a closed dgram socket with its own code
const notRunning = new Set(["ERR_SOCKET_DGRAM_NOT_RUNNING", "ERR_SOCKET_CLOSED", "EBADF"])

const ioError = (
  error: unknown,
  host: string | undefined,
  port: number | undefined,
  operation: string
): ReceiveError => {
  const code = errorCode(error)
  if (code !== undefined && notRunning.has(code)) return closedError(operation, host, port, error)
  const e = Errors.fromNodeError(error, { host, port, operation })
  // `fromNodeError` reads EACCES as a bind failure; on a send it is a refused broadcast
  return e._tag === "ConnectionRefused" || e._tag === "SocketClosed" || e._tag === "SocketError"
    ? e
    : socketError(error, host, port)
}

const sendError = (error: unknown, host: string | undefined, port: number | undefined, size: number): SendError =>
  errorCode(error) === "EMSGSIZE"
    ? Errors.withoutStack(() => new Errors.MessageTooLarge({ host, port, size, code: "EMSGSIZE", cause: error }))
    : ioError(error, host, port, "send")

const optionError = (error: unknown, operation: string): OptionError => {
  const code = errorCode(error)
  if (code !== undefined && notRunning.has(code)) return closedError(operation, undefined, undefined, error)
  return socketError(error, undefined, undefined)
}

const bindError = (error: unknown, host: string, port: number): Errors.AddressInUse | Errors.SocketError => {
  const e = Errors.fromNodeError(error, { host, port, operation: "bind" })
  return e._tag === "AddressInUse" || e._tag === "SocketError" ? e : socketError(error, host, port)
}

// =============================================================================
// Addresses
// =============================================================================

const resolveHost = (
  dns: Dns.Dns["Service"],
  host: string,
  type: SocketType
): Effect.Effect<string, Errors.DnsError> =>
  Net.isIP(host) !== 0
    ? Effect.succeed(host)
    : countLookup(dns.lookup(host, { family: type === "udp6" ? "IPv6" : "IPv4" })).pipe(
      Effect.map((addresses) => NetAddress.formatIp(addresses[0])),
      Effect.mapError((e) => new Errors.DnsError({ host, reason: e.reason, cause: e }))
    )

// Every address reaching `node:dgram` is an IP literal, so answer at once: this
// skips the `dns.lookup` and `process.nextTick` Node adds to every send.
const immediateLookup = (
  hostname: string,
  family: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void
): void => callback(null, hostname, family === 6 ? 6 : 4)

const readAddress = (socket: Dgram.Socket): AddressInfo => {
  const a = socket.address()
  return { address: a.address, port: a.port, family: a.family === "IPv6" ? "IPv6" : "IPv4" }
}

const sizeOf = (data: Uint8Array | string): number =>
  typeof data === "string" ? Buffer.byteLength(data) : data.byteLength

// =============================================================================
// Socket
// =============================================================================

const toData = (datagram: Datagram): Uint8Array => datagram.data

const toSize = (datagram: Datagram): number => datagram.data.byteLength

const defaultReceiveQueueBytes = 4 * 1024 * 1024

class UdpSocketImpl implements UdpSocket {
  readonly type: SocketType
  localAddress: AddressInfo
  remoteAddress: AddressInfo | undefined = undefined
  readonly maxDatagramSize: number
  readonly socket: Dgram.Socket
  readonly buffer: DatagramBuffer.DatagramBuffer<Datagram, ReceiveError>
  private readonly dns: Dns.Dns["Service"]
  private readonly receiveFromEffect: Effect.Effect<Datagram, ReceiveError>
  private readonly receiveEffect: Effect.Effect<Uint8Array, ReceiveError>
  readonly close: Effect.Effect<void>
  private closed = false
  /** Set by `serve`: takes each datagram instead of the receive buffer. */
  sink: ((data: Buffer, info: Dgram.RemoteInfo) => void) | undefined = undefined
  /** Set by `serve`: takes errors instead of the next operation. */
  onError: ((error: ReceiveError) => void) | undefined = undefined

  constructor(socket: Dgram.Socket, type: SocketType, dns: Dns.Dns["Service"], options: BindOptions | undefined) {
    this.socket = socket
    this.type = type
    this.dns = dns
    this.localAddress = readAddress(socket)
    this.maxDatagramSize = Math.min(options?.maxDatagramSize ?? maxPayload[type], maxPayload[type])
    const buffer = DatagramBuffer.makeUnsafe<Datagram, ReceiveError>(options?.receiveQueueCapacity ?? 1024, {
      maxBytes: options?.receiveQueueBytes ?? defaultReceiveQueueBytes,
      sizeOf: toSize
    })
    this.buffer = buffer
    this.receiveFromEffect = buffer.take
    this.receiveEffect = Effect.map(buffer.take, toData)
    this.close = Effect.sync(() => this.closeUnsafe())
    socket.on("message", (data, info) => {
      counts.udpReceived++
      if (this.sink !== undefined) return this.sink(data, info)
      if (!buffer.offerUnsafe({ data, address: info.address, port: info.port, family: info.family })) {
        counts.udpDropped++
      }
    })
    // After open, errors belong to no operation (an ICMP report on a connected
    // socket comes as an `'error'` from `recvmsg`): the next receive or send gets it.
    socket.on("error", (error) => {
      const e = ioError(error, this.remoteAddress?.address, this.remoteAddress?.port, "receive")
      if (this.onError === undefined) buffer.failUnsafe(e)
      else this.onError(e)
    })
    socket.on("close", () => {
      this.closed = true
      buffer.closeUnsafe(closedError("receive"))
    })
  }

  get dropped(): number {
    return this.buffer.dropped
  }

  receiveFrom(): Effect.Effect<Datagram, ReceiveError> {
    return this.receiveFromEffect
  }

  receive(): Effect.Effect<Uint8Array, ReceiveError> {
    return this.receiveEffect
  }

  /** Why a send cannot start, or `undefined`. */
  private refuse(size: number, host: string | undefined, port: number | undefined): SendError | undefined {
    if (this.closed) return closedError("send", host, port)
    const pending = this.buffer.pollErrorUnsafe()
    if (pending !== undefined) return pending
    if (size > this.maxDatagramSize) {
      return Errors.withoutStack(() => new Errors.MessageTooLarge({ host, port, size, maxSize: this.maxDatagramSize }))
    }
    return undefined
  }

  /** Sends to an IP literal: the path `reply` takes. */
  sendToHost(data: Uint8Array | string, host: string, port: number): Effect.Effect<void, SendError> {
    return Effect.callback<void, SendError>((resume) => {
      const size = sizeOf(data)
      const refused = this.refuse(size, host, port)
      if (refused !== undefined) return resume(Effect.fail(refused))
      try {
        this.socket.send(data, port, host, (error) => {
          if (error != null) return resume(Effect.fail(sendError(error, host, port, size)))
          counts.udpSent++
          resume(Effect.void)
        })
      } catch (error) {
        resume(Effect.fail(sendError(error, host, port, size)))
      }
    })
  }

  sendTo(data: Uint8Array | string, host: string, port: number): Effect.Effect<void, SendError | Errors.DnsError> {
    return Net.isIP(host) !== 0
      ? this.sendToHost(data, host, port)
      : Effect.flatMap(resolveHost(this.dns, host, this.type), (ip) => this.sendToHost(data, ip, port))
  }

  send(data: Uint8Array | string): Effect.Effect<void, SendError> {
    return Effect.callback<void, SendError>((resume) => {
      const size = sizeOf(data)
      const remote = this.remoteAddress
      const refused = this.refuse(size, remote?.address, remote?.port)
      if (refused !== undefined) return resume(Effect.fail(refused))
      if (remote === undefined) {
        return resume(Effect.fail(socketError({ code: "ENOTCONN", syscall: "send" }, undefined, undefined)))
      }
      try {
        this.socket.send(data, (error) => {
          if (error != null) return resume(Effect.fail(sendError(error, remote.address, remote.port, size)))
          counts.udpSent++
          resume(Effect.void)
        })
      } catch (error) {
        resume(Effect.fail(sendError(error, remote.address, remote.port, size)))
      }
    })
  }

  connect(
    address: string,
    port: number
  ): Effect.Effect<void, Errors.ConnectionRefused | Errors.DnsError | Errors.SocketClosed | Errors.SocketError> {
    return Effect.flatMap(resolveHost(this.dns, address, this.type), (host) =>
      Effect.callback<void, ReceiveError>((resume) => {
        if (this.closed) return resume(Effect.fail(closedError("connect", host, port)))
        try {
          this.socket.connect(port, host, (error?: Error) => {
            if (error != null) return resume(Effect.fail(ioError(error, host, port, "connect")))
            try {
              const remote = this.socket.remoteAddress()
              this.remoteAddress = {
                address: remote.address,
                port: remote.port,
                family: remote.family === "IPv6" ? "IPv6" : "IPv4"
              }
              this.localAddress = readAddress(this.socket)
            } catch (error) {
              return resume(Effect.fail(ioError(error, host, port, "connect")))
            }
            resume(Effect.void)
          })
        } catch (error) {
          resume(Effect.fail(ioError(error, host, port, "connect")))
        }
      }))
  }

  private option(operation: string, f: (socket: Dgram.Socket) => void): Effect.Effect<void, OptionError> {
    return Effect.suspend(() => {
      if (this.closed) return Effect.fail(closedError(operation))
      try {
        f(this.socket)
        return Effect.void
      } catch (error) {
        return Effect.fail(optionError(error, operation))
      }
    })
  }

  disconnect(): Effect.Effect<void, OptionError> {
    return this.option("disconnect", (socket) => {
      socket.disconnect()
      this.remoteAddress = undefined
    })
  }

  setBroadcast(flag: boolean): Effect.Effect<void, OptionError> {
    return this.option("setBroadcast", (socket) => socket.setBroadcast(flag))
  }

  setTTL(ttl: number): Effect.Effect<void, OptionError> {
    return this.option("setTTL", (socket) => socket.setTTL(ttl))
  }

  addMembership(group: string, interfaceAddress?: string): Effect.Effect<void, OptionError> {
    return this.option("addMembership", (socket) => socket.addMembership(group, interfaceAddress))
  }

  dropMembership(group: string, interfaceAddress?: string): Effect.Effect<void, OptionError> {
    return this.option("dropMembership", (socket) => socket.dropMembership(group, interfaceAddress))
  }

  setMulticastTTL(ttl: number): Effect.Effect<void, OptionError> {
    return this.option("setMulticastTTL", (socket) => socket.setMulticastTTL(ttl))
  }

  setMulticastLoopback(flag: boolean): Effect.Effect<void, OptionError> {
    return this.option("setMulticastLoopback", (socket) => socket.setMulticastLoopback(flag))
  }

  setMulticastInterface(interfaceAddress: string): Effect.Effect<void, OptionError> {
    return this.option("setMulticastInterface", (socket) => socket.setMulticastInterface(interfaceAddress))
  }

  closeUnsafe(): void {
    if (this.closed) return
    this.closed = true
    this.buffer.closeUnsafe(closedError("receive"))
    try {
      this.socket.close()
    } catch {
      // already closed by Node
    }
  }
}

const open = (
  dns: Dns.Dns["Service"],
  type: SocketType,
  host: string,
  options: BindOptions | undefined
): Effect.Effect<UdpSocketImpl, Errors.AddressInUse | Errors.SocketError> =>
  Effect.callback((resume) => {
    const port = options?.port ?? 0
    let socket: Dgram.Socket
    try {
      socket = Dgram.createSocket({
        type,
        lookup: immediateLookup as Dgram.SocketOptions["lookup"],
        ...(options?.reuseAddr !== undefined && { reuseAddr: options.reuseAddr }),
        ...(options?.ipv6Only !== undefined && { ipv6Only: options.ipv6Only })
      })
    } catch (error) {
      return resume(Effect.fail(bindError(error, host, port)))
    }
    let settled = false
    const abandon = () => {
      settled = true
      try {
        socket.close()
      } catch {
        // never bound
      }
    }
    const onError = (error: Error) => {
      if (settled) return
      abandon()
      resume(Effect.fail(bindError(error, host, port)))
    }
    socket.once("error", onError)
    try {
      socket.bind({ address: host, port }, () => {
        if (settled) return
        socket.removeListener("error", onError)
        try {
          if (options?.recvBufferSize !== undefined) socket.setRecvBufferSize(options.recvBufferSize)
          if (options?.sendBufferSize !== undefined) socket.setSendBufferSize(options.sendBufferSize)
        } catch (error) {
          abandon()
          return resume(Effect.fail(bindError(error, host, port)))
        }
        settled = true
        resume(Effect.succeed(new UdpSocketImpl(socket, type, dns, options)))
      })
    } catch (error) {
      onError(error as Error)
    }
    return Effect.sync(() => {
      if (!settled) abandon()
    })
  })

const bindWith = (dns: Dns.Dns["Service"]) =>
  Effect.fn("Udp.bind")(function*(options?: BindOptions): Effect.fn.Return<UdpSocketImpl, BindError, Scope.Scope> {
    Stats.register(yield* Effect.context<never>())
    const requested = options?.host
    const type: SocketType = options?.type ??
      (requested !== undefined && Net.isIP(requested) === 6 ? "udp6" : "udp4")
    const host = requested === undefined
      ? (type === "udp6" ? "::" : "0.0.0.0")
      : yield* resolveHost(dns, requested, type)
    return yield* Effect.acquireRelease(open(dns, type, host, options), (socket) => socket.close)
  })

// =============================================================================
// Service
// =============================================================================

/**
 * The UDP service: `bind` sockets and `serve` datagrams. Its live `layer`
 * resolves host names with Effect's `Dns` service.
 *
 * **Example** (Providing the service)
 *
 * ```ts
 * import * as NodeDns from "@effect/platform-node/NodeDns"
 *
 * program.pipe(Effect.provide(Udp.layer.pipe(Layer.provide(NodeDns.layer))))
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Udp extends Context.Service<Udp, {
  /** Opens a socket bound to `options.host:options.port`, closed with the scope. */
  readonly bind: (options?: BindOptions) => Effect.Effect<UdpSocket, BindError, Scope.Scope>
  /** Binds a socket and runs `options.handler` per datagram until the scope closes. */
  readonly serve: <E, R>(
    options: Server.ServeOptions<E, R>
  ) => Effect.Effect<Server.UdpServer, BindError, Scope.Scope | Exclude<R, Scope.Scope>>
}>()("fiberloop/net/Udp") {}

/**
 * Builds the service on the `Dns` service in context.
 *
 * **Example** (Building it by hand)
 *
 * ```ts
 * const udp = yield* Udp.make.pipe(Effect.provide(NodeDns.layer))
 * const socket = yield* udp.bind({ host: "127.0.0.1" })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Udp["Service"], never, Dns.Dns> = Dns.Dns.useSync((dns) => {
  const bind = bindWith(dns)
  return Udp.of({ bind, serve: Server.serveWith(bind) })
})

/**
 * The live `Udp` service on `node:dgram`; needs a `Dns` layer.
 *
 * **Example** (With Node's resolver)
 *
 * ```ts
 * const UdpLive = Udp.layer.pipe(Layer.provide(NodeDns.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Udp, never, Dns.Dns> = Layer.effect(Udp, make)

/**
 * Opens a UDP socket in the current scope.
 *
 * **Example** (A loopback socket)
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const socket = yield* Udp.bind({ host: "127.0.0.1", port: 0 })
 *   return socket.localAddress.port
 * }).pipe(Effect.scoped, Effect.provide(UdpLive))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const bind = (options?: BindOptions): Effect.Effect<UdpSocket, BindError, Scope.Scope | Udp> =>
  Udp.use((udp) => udp.bind(options))

/**
 * Runs a UDP server in the current scope: one receive loop, one fiber per
 * datagram, failures reported and counted. Returns once bound.
 *
 * **Example** (Echo server)
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const server = yield* Udp.serve({ host: "127.0.0.1", port: 0, handler: ({ data, reply }) => reply(data) })
 *   yield* Effect.log(`listening on ${server.address.port}`)
 *   yield* Effect.never
 * }).pipe(Effect.scoped, Effect.provide(UdpLive))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const serve = <E, R>(
  options: Server.ServeOptions<E, R>
): Effect.Effect<Server.UdpServer, BindError, Scope.Scope | Udp | Exclude<R, Scope.Scope>> =>
  Udp.use((udp) => udp.serve(options))

/**
 * A UDP server that runs for the lifetime of the layer (the same shape as
 * `Tcp.layerServer`).
 *
 * **Example** (A datagram echo in an application's layer graph)
 *
 * ```ts
 * const EchoLive = Udp.layerServer({ port: 7000, handler: ({ data, reply }) => reply(data) })
 * Layer.launch(EchoLive.pipe(Layer.provide(Loop.layer)))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerServer = <E, R>(
  options: Server.ServeOptions<E, R>
): Layer.Layer<never, BindError, Exclude<R, Scope.Scope> | Udp> => Layer.effectDiscard(serve(options))
