/**
 * Typed connection conditions.
 *
 * Every way a network operation can end other than success is one tagged
 * class, so callers match on the condition (`Effect.catchTag("ConnectionRefused", …)`)
 * and never on message strings. Each carries the `host`/`port` it concerns and,
 * where Node reported one, the `errno`/`code`/`syscall`. `fromNodeError`
 * classifies a Node `Error` into one of them, `fromNodeTlsError` a TLS
 * handshake's error into a `TlsError`.
 *
 * End of stream (`ConnectionClosed`) is an expected condition: it is built
 * without capturing a stack trace, so the normal close path stays cheap.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

// =============================================================================
// Shared fields
// =============================================================================

const where = {
  /** The remote (or bound) host the condition concerns. */
  host: Schema.optional(Schema.String),
  /** The remote (or bound) port the condition concerns. */
  port: Schema.optional(Schema.Number),
  /** Node's error code, e.g. `ECONNREFUSED`. */
  code: Schema.optional(Schema.String),
  /** Node's numeric errno. */
  errno: Schema.optional(Schema.Number),
  /** The system call that failed, e.g. `connect`. */
  syscall: Schema.optional(Schema.String),
  /** The original exception, when there was one. */
  cause: Schema.optional(Schema.Defect())
}

/**
 * Where a network condition happened: host, port and Node's error details.
 *
 * @category models
 * @since 0.1.0
 */
export interface Where {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly code?: string | undefined
  readonly errno?: number | undefined
  readonly syscall?: string | undefined
  readonly cause?: unknown
}

const at = (self: Where): string =>
  self.host === undefined ? "" : ` (${self.host}${self.port === undefined ? "" : `:${self.port}`})`

/** `host:port`, with an IPv6 host in brackets. */
const endpoint = (self: Where): string => {
  const host = self.host !== undefined && self.host.includes(":") ? `[${self.host}]` : self.host
  if (self.port === undefined) return host ?? "?"
  return `${host ?? "*"}:${self.port}`
}

// =============================================================================
// Connection conditions
// =============================================================================

/**
 * The peer actively refused the connection (`ECONNREFUSED`), or an ICMP port
 * unreachable came back on a connected UDP socket.
 *
 * **Example** (Falling back when nobody listens)
 *
 * ```ts
 * Tcp.connect({ host: "127.0.0.1", port: 1 }).pipe(
 *   Effect.catchTag("ConnectionRefused", () => Effect.succeed(undefined))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectionRefused extends Schema.TaggedError<ConnectionRefused>()("ConnectionRefused", where) {
  override get message(): string {
    return `connection refused${at(this)}`
  }
}

/**
 * An operation did not complete in time. `phase` says which timeout fired.
 *
 * **Example** (Telling a slow reader from a slow connect)
 *
 * ```ts
 * conn.receive("*l").pipe(
 *   Effect.catchTag("ConnectionTimeout", (e) => Effect.log(`timed out in ${e.phase}`))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectionTimeout extends Schema.TaggedError<ConnectionTimeout>()("ConnectionTimeout", {
  ...where,
  /** Which timeout fired. */
  phase: Schema.Literals(["connect", "read", "write", "idle", "handshake"]),
  /** The timeout that elapsed, in milliseconds. */
  timeoutMillis: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `${this.phase} timeout${this.timeoutMillis === undefined ? "" : ` after ${this.timeoutMillis} ms`}${at(this)}`
  }
}

/**
 * The peer reset the connection (`ECONNRESET`, `EPIPE`, `ECONNABORTED`).
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectionReset extends Schema.TaggedError<ConnectionReset>()("ConnectionReset", where) {
  override get message(): string {
    return `connection reset by peer${at(this)}`
  }
}

/**
 * End of stream: the peer closed its side. A read that had gathered some bytes
 * before the end returns them in `partial` (empty when there were none).
 *
 * This is the expected way a conversation ends, so it is cheap to build: no
 * stack trace is captured.
 *
 * **Example** (Keeping the unterminated last line)
 *
 * ```ts
 * conn.receive("*l").pipe(
 *   Effect.catchTag("ConnectionClosed", (e) => Effect.succeed(e.partialText))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectionClosed extends Schema.TaggedError<ConnectionClosed>()("ConnectionClosed", {
  ...where,
  /** Bytes read before the end of stream, not part of any complete unit. */
  partial: Schema.Uint8Array
}) {
  override get message(): string {
    return `connection closed by peer${this.partial.length > 0 ? ` with ${this.partial.length} unread bytes` : ""}${
      at(this)
    }`
  }
  /** `partial` decoded as UTF-8. */
  get partialText(): string {
    return Buffer.from(this.partial.buffer, this.partial.byteOffset, this.partial.byteLength).toString("utf8")
  }
}

/**
 * The socket was used after this side closed it (or after a previous fatal
 * error closed it).
 *
 * @category errors
 * @since 0.1.0
 */
export class SocketClosed extends Schema.TaggedError<SocketClosed>()("SocketClosed", {
  ...where,
  /** The operation that was attempted. */
  operation: Schema.String
}) {
  override get message(): string {
    return `${this.operation} on a closed socket${at(this)}`
  }
}

/**
 * A host name could not be resolved. `reason` follows Effect's `DnsError`.
 *
 * @category errors
 * @since 0.1.0
 */
export class DnsError extends Schema.TaggedError<DnsError>()("DnsError", {
  ...where,
  /** Why the name did not resolve (`NotFound`, `Timeout`, `Temporary`, …). */
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot resolve ${this.host ?? "host"}: ${this.reason}`
  }
}

/**
 * The address to listen on is taken (`EADDRINUSE`) or not available here
 * (`EADDRNOTAVAIL`, `EACCES`); `code` says which.
 *
 * **Example** (The message of a taken port)
 *
 * ```ts
 * new Errors.AddressInUse({ host: "127.0.0.1", port: 8080, code: "EADDRINUSE" }).message
 * // => "address 127.0.0.1:8080 already in use (EADDRINUSE)"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class AddressInUse extends Schema.TaggedError<AddressInUse>()("AddressInUse", where) {
  override get message(): string {
    const address = endpoint(this)
    switch (this.code) {
      case "EADDRINUSE":
        return `address ${address} already in use (EADDRINUSE)`
      case "EADDRNOTAVAIL":
        return `address ${address} not available on this host (EADDRNOTAVAIL)`
      case "EACCES":
        return `no permission to bind ${address} (EACCES)`
      default:
        return `address ${address} not available${this.code === undefined ? "" : ` (${this.code})`}`
    }
  }
}

/**
 * A line (or `until` unit) grew beyond `maxLineLength`. Only that read
 * fails: the connection stays usable, so a handler can answer (`-ERR line too
 * long`). The rest of the unit, up to and including its delimiter, is
 * dropped as it arrives, and the next read starts after it. A handler that
 * does not catch it ends, and the server closes the connection.
 *
 * **Example** (Answering, then reading on)
 *
 * ```ts
 * conn.receive("*l").pipe(
 *   Effect.catchTag("LineTooLong", () => Effect.as(conn.send("-ERR line too long\r\n"), ""))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class LineTooLong extends Schema.TaggedError<LineTooLong>()("LineTooLong", {
  ...where,
  /** The limit that was exceeded, in bytes. */
  maxLineLength: Schema.Number
}) {
  override get message(): string {
    return `line longer than ${this.maxLineLength} bytes${at(this)}`
  }
}

/**
 * `receive("*a")` gathered more than `maxAll` bytes and the peer has not
 * closed. Nothing is lost: the `buffered` bytes stay unread on the connection
 * (read them with `receivePartial` or a byte count), which stays usable.
 *
 * **Example** (Streaming what does not fit)
 *
 * ```ts
 * conn.receive("*a").pipe(
 *   Effect.catchTag("StreamTooLong", (e) => Effect.log(`${e.buffered} bytes and no end yet`))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class StreamTooLong extends Schema.TaggedError<StreamTooLong>()("StreamTooLong", {
  ...where,
  /** The limit that was exceeded, in bytes. */
  maxAll: Schema.Number,
  /** Bytes received and still unread when the read failed. */
  buffered: Schema.Number
}) {
  override get message(): string {
    return `more than ${this.maxAll} bytes before end of stream (${this.buffered} bytes buffered, unread)${at(this)}`
  }
}

/**
 * A frame decoder (`conn.receiveFrame`) saw more than `maxFrameLength`
 * bytes without a whole frame, or was told a frame needs more (a length
 * prefix over the limit). The bytes stay buffered, but where the next frame
 * starts is unknown, so the connection is done for: answer if the protocol
 * has a way, then let the handler end (the server closes the connection).
 *
 * **Example** (Answering an oversized frame)
 *
 * ```ts
 * conn.receiveFrame(decoder).pipe(
 *   Effect.catchTag("FrameTooLong", (e) => Effect.andThen(conn.send(`-ERR over ${e.maxFrameLength} bytes\r\n`), Effect.fail(e)))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class FrameTooLong extends Schema.TaggedError<FrameTooLong>()("FrameTooLong", {
  ...where,
  /** The limit that was exceeded, in bytes. */
  maxFrameLength: Schema.Number,
  /** Bytes the frame needs as far as the decoder said, or were buffered without a whole frame. */
  length: Schema.Number
}) {
  override get message(): string {
    return `frame of ${this.length} bytes or more, over the limit of ${this.maxFrameLength}${at(this)}`
  }
}

/**
 * Any other socket failure Node reported (`EHOSTUNREACH`, `ENETUNREACH`, …),
 * kept with its code.
 *
 * @category errors
 * @since 0.1.0
 */
export class SocketError extends Schema.TaggedError<SocketError>()("SocketError", where) {
  override get message(): string {
    return `socket error ${this.code ?? "unknown"}${this.syscall === undefined ? "" : ` in ${this.syscall}`}${at(this)}`
  }
}

/**
 * Every condition a connection operation can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type ConnectionError =
  | ConnectionRefused
  | ConnectionTimeout
  | ConnectionReset
  | ConnectionClosed
  | SocketClosed
  | DnsError
  | AddressInUse
  | LineTooLong
  | StreamTooLong
  | FrameTooLong
  | SocketError
  | TlsError

// =============================================================================
// Classifier
// =============================================================================

/**
 * A Node system error: the fields `net`, `tls` and `dgram` set.
 *
 * @category models
 * @since 0.1.0
 */
export interface NodeSystemError extends Error {
  readonly code?: string | undefined
  readonly errno?: number | undefined
  readonly syscall?: string | undefined
  readonly address?: string | undefined
  readonly port?: number | undefined
}

/**
 * Builds an error without capturing a stack trace. Conditions on the normal
 * path (end of stream, a reset peer) are expected, and a stack costs more than
 * the rest of a whole connection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const withoutStack = <A>(make: () => A): A => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

const resetCodes = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"])
const addressCodes = new Set(["EADDRINUSE", "EADDRNOTAVAIL", "EACCES"])
const dnsCodes: Record<string, string> = {
  ENOTFOUND: "NotFound",
  ENODATA: "NotFound",
  EAI_NONAME: "NotFound",
  EAI_AGAIN: "Temporary",
  ESERVFAIL: "ServerFailure",
  ETIMEOUT: "Timeout",
  EREFUSED: "Refused",
  EBADNAME: "BadName"
}
const closedCodes = new Set(["ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END", "ERR_SOCKET_CLOSED", "EBADF"])

/**
 * Classifies a Node error into a typed condition.
 *
 * | Node code | condition |
 * | --- | --- |
 * | ECONNREFUSED | ConnectionRefused |
 * | ECONNRESET, EPIPE, ECONNABORTED, ERR_STREAM_PREMATURE_CLOSE | ConnectionReset |
 * | ETIMEDOUT | ConnectionTimeout (phase from `context.phase`, default `connect`) |
 * | EADDRINUSE, EADDRNOTAVAIL, EACCES | AddressInUse |
 * | ENOTFOUND, EAI_AGAIN, ENODATA, … | DnsError |
 * | ERR_STREAM_DESTROYED, ERR_STREAM_WRITE_AFTER_END, ERR_SOCKET_CLOSED, EBADF | SocketClosed |
 * | anything else | SocketError |
 *
 * **Example** (Classifying a refused connect)
 *
 * ```ts
 * const e = Errors.fromNodeError(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), { host: "::1", port: 1 })
 * e._tag // => "ConnectionRefused"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromNodeError = (
  error: unknown,
  context?: {
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly phase?: ConnectionTimeout["phase"] | undefined
    readonly operation?: string | undefined
  }
): ConnectionRefused | ConnectionTimeout | ConnectionReset | SocketClosed | DnsError | AddressInUse | SocketError =>
  withoutStack(() => {
    const e = (typeof error === "object" && error !== null ? error : {}) as Partial<NodeSystemError>
    const fields: Where = {
      host: context?.host ?? (e as { hostname?: string }).hostname ?? e.address,
      port: context?.port ?? e.port,
      code: e.code,
      errno: e.errno,
      syscall: e.syscall,
      cause: error
    }
    const code = e.code ?? ""
    if (code === "ECONNREFUSED") return new ConnectionRefused(fields)
    if (resetCodes.has(code)) return new ConnectionReset(fields)
    if (code === "ETIMEDOUT") return new ConnectionTimeout({ ...fields, phase: context?.phase ?? "connect" })
    if (addressCodes.has(code)) return new AddressInUse(fields)
    const dns = dnsCodes[code]
    if (dns !== undefined) return new DnsError({ ...fields, reason: dns })
    if (closedCodes.has(code)) return new SocketClosed({ ...fields, operation: context?.operation ?? e.syscall ?? "io" })
    return new SocketError(fields)
  })

// =============================================================================
// Datagram conditions
// =============================================================================

/**
 * A datagram is larger than the socket may send: above `maxSize`, which is the
 * protocol limit (65507 bytes for IPv4, 65527 for IPv6) or a smaller limit the
 * socket was opened with, or Node reported `EMSGSIZE`. Nothing was sent.
 *
 * **Example** (Splitting what does not fit)
 *
 * ```ts
 * socket.sendTo(payload, "127.0.0.1", 9000).pipe(
 *   Effect.catchTag("MessageTooLarge", (e) => Effect.log(`${e.size} > ${e.maxSize}`))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class MessageTooLarge extends Schema.TaggedError<MessageTooLarge>()("MessageTooLarge", {
  ...where,
  /** The size of the refused datagram, in bytes. */
  size: Schema.Number,
  /** The largest datagram the socket may send, in bytes; absent when only the kernel's `EMSGSIZE` said so. */
  maxSize: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `datagram of ${this.size} bytes too large${this.maxSize === undefined ? "" : ` (max ${this.maxSize})`}${
      at(this)
    }`
  }
}

/**
 * Every condition a datagram (UDP) operation can fail with. A connected UDP
 * socket reports an ICMP port unreachable as `ConnectionRefused`.
 *
 * @category errors
 * @since 0.1.0
 */
export type DatagramError =
  | ConnectionRefused
  | SocketClosed
  | DnsError
  | AddressInUse
  | MessageTooLarge
  | SocketError

// =============================================================================
// TLS conditions
// =============================================================================

const tlsReasons = {
  CertificateVerify: "certificate verification failed",
  Handshake: "handshake failed",
  Protocol: "protocol error",
  Timeout: "handshake timed out"
} as const

/**
 * A TLS handshake (or loading TLS credentials) failed. `reason` says how:
 *
 * - `CertificateVerify`: a certificate was refused, by us or by the peer
 *   (`code`: `DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`,
 *   `ERR_TLS_CERT_ALTNAME_INVALID`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 *   `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`, …).
 * - `Protocol`: the peer does not speak an acceptable TLS (`ERR_SSL_WRONG_VERSION_NUMBER`,
 *   `ERR_SSL_HTTP_REQUEST`, no common version or ALPN protocol).
 * - `Handshake`: any other handshake failure (no shared cipher, a reset in
 *   the middle of the handshake, a `handshake_failure` alert).
 * - `Timeout`: the handshake did not finish within `handshakeTimeout`
 *   (`timeoutMillis`).
 * - `Configuration`: keys, certificates or CAs could not be read or parsed.
 *
 * Handshake failures are expected (scanners, clients with stale CAs), so they
 * are built without a stack trace.
 *
 * **Example** (Telling an untrusted server from a dead one)
 *
 * ```ts
 * Tcp.connect({ host: "example.com", port: 443, tls: {} }).pipe(
 *   Effect.catchTag("TlsError", (e) =>
 *     e.reason === "CertificateVerify" ? Effect.log(`untrusted: ${e.code}`) : Effect.fail(e))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TlsError extends Schema.TaggedError<TlsError>()("TlsError", {
  ...where,
  /** How the handshake failed. */
  reason: Schema.Literals(["CertificateVerify", "Handshake", "Protocol", "Timeout", "Configuration"]),
  /** The server name requested or verified, when there was one. */
  servername: Schema.optional(Schema.String),
  /** OpenSSL's or Node's description of the failure. */
  detail: Schema.optional(Schema.String),
  /** For `Timeout`: the handshake timeout that elapsed, in milliseconds. */
  timeoutMillis: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const code = this.code
    const detail = this.detail
    if (this.reason === "Configuration") {
      // the detail is a sentence of its own: "cannot read TLS CA file /x: no such file or directory"
      return `${detail ?? "cannot load TLS credentials"}${code === undefined ? "" : ` (${code})`}`
    }
    // Node's messages often start with the code already ("ECONNRESET: socket hang up")
    const what = code === undefined
      ? detail
      : detail === undefined || detail === code
      ? code
      : detail.startsWith(`${code}:`)
      ? detail
      : `${code}: ${detail}`
    const after = this.timeoutMillis === undefined ? "" : ` after ${this.timeoutMillis} ms`
    return `TLS ${tlsReasons[this.reason]}${after}${what === undefined ? "" : ` (${what})`}${at(this)}`
  }
}

const verifyCodes = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_TLS_CERT_ALTNAME_FORMAT"
])
/** The peer refused our certificate (an alert), or sent none when one was required. */
const peerVerify = /^ERR_SSL_.*(CERTIFICATE|UNKNOWN_CA|ALERT_ACCESS_DENIED)/
/** Not TLS, or not a TLS we can agree on: version, record framing, ALPN. */
const protocolErrors = new RegExp(`^ERR_SSL_.*(${
  [
    "WRONG_VERSION_NUMBER",
    "HTTPS?_(PROXY_)?REQUEST",
    "UNKNOWN_PROTOCOL",
    "UNSUPPORTED_PROTOCOL",
    "PROTOCOL_VERSION",
    "VERSION_TOO_(LOW|HIGH)",
    "NO_PROTOCOLS_AVAILABLE",
    "WRONG_SSL_VERSION",
    "PACKET_LENGTH_TOO_LONG",
    "BAD_PACKET_LENGTH",
    "LENGTH_MISMATCH",
    "RECORD_LAYER_FAILURE",
    "UNEXPECTED_RECORD",
    "UNEXPECTED_MESSAGE",
    "UNEXPECTED_EOF",
    "DECODE_ERROR",
    "BAD_RECORD_MAC",
    "DECRYPTION_FAILED",
    "NO_APPLICATION_PROTOCOL"
  ].join("|")
})`)

/**
 * Where a TLS condition happened: the peer and the server name involved.
 *
 * **Example** (Classifying with context)
 *
 * ```ts
 * Errors.fromNodeTlsError(error, { host: "127.0.0.1", port: 443, servername: "example.com" }).servername
 * // => "example.com"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TlsErrorContext {
  /** The peer's address. */
  readonly host?: string | undefined
  /** The peer's port. */
  readonly port?: number | undefined
  /** The server name requested (client side) or verified. */
  readonly servername?: string | undefined
}

/**
 * Classifies an error Node raised during a TLS handshake.
 *
 * | Node code | reason |
 * | --- | --- |
 * | `DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, … | `CertificateVerify` |
 * | other X.509 verify codes, `ERR_SSL_*` certificate alerts | `CertificateVerify` |
 * | `ERR_SSL_WRONG_VERSION_NUMBER`, `ERR_SSL_HTTP_REQUEST`, version, record and ALPN errors | `Protocol` |
 * | `ERR_TLS_HANDSHAKE_TIMEOUT` | `Timeout` |
 * | anything else (`ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE`, `ECONNRESET`, …) | `Handshake` |
 *
 * **Example** (A self-signed server)
 *
 * ```ts
 * const error = Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" })
 * const e = Errors.fromNodeTlsError(error)
 * e.reason // => "CertificateVerify"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromNodeTlsError = (error: unknown, context?: TlsErrorContext | undefined): TlsError =>
  withoutStack(() => {
    const e = (typeof error === "object" && error !== null ? error : {}) as {
      code?: string
      errno?: number
      syscall?: string
      reason?: string
      message?: string
    }
    const code = e.code ?? ""
    const reason = code === "ERR_TLS_HANDSHAKE_TIMEOUT"
      ? "Timeout"
      : verifyCodes.has(code) || peerVerify.test(code)
      ? "CertificateVerify"
      : protocolErrors.test(code)
      ? "Protocol"
      : "Handshake"
    return new TlsError({
      reason,
      code: e.code,
      errno: typeof e.errno === "number" ? e.errno : undefined,
      syscall: e.syscall,
      detail: typeof e.reason === "string" ? e.reason : e.message,
      host: context?.host,
      port: context?.port,
      servername: context?.servername,
      cause: error
    })
  })
