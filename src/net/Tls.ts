/**
 * TLS for fiberloop connections: credentials and contexts (SNI, ALPN, cipher
 * order, reload), the `handshake` entry point that `Tcp` and STARTTLS use, and
 * what a handshake negotiated.
 *
 * Keys, certificates and CAs are `Redacted` PEM strings or `{ file }` paths,
 * loaded once into a Node `SecureContext`. A server context is reloadable:
 * every handshake reads the current credentials when it starts, so
 * `context.reload(options)` takes effect for new connections without a
 * restart, and connections already established keep theirs. Servers choose
 * the cipher suite by their own order (`honorCipherOrder`, default true), as
 * `tls.createServer` does.
 *
 * Handshakes (in `internal/tlsHandshake.ts`, with all of Node's private TLS
 * API) run over an already connected plain socket inside the calling fiber:
 * they are bounded by `handshakeTimeout` (default 10 seconds), interruptible
 * (the socket is destroyed), and fail with a typed `TlsError` (in `Errors`)
 * whose `reason` is `CertificateVerify`, `Handshake`, `Protocol` or `Timeout`
 * (`Configuration` when credentials cannot be loaded). Clients verify the
 * server by default; switching that off takes an explicit
 * `rejectUnauthorized: false` and is logged once per process.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { readFile } from "node:fs/promises"
import type * as Net from "node:net"
import * as NodeTls from "node:tls"
import { getSystemErrorMessage } from "node:util"
import { type ConnectionClosed, fromNodeTlsError, TlsError, type TlsErrorContext } from "./Errors.ts"
import * as TlsHandshake from "./internal/tlsHandshake.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * PEM text: a `Redacted` string, or a file to read it from.
 *
 * **Example** (Both forms)
 *
 * ```ts
 * const key: Tls.Pem = Redacted.make(process.env.TLS_KEY!)
 * const cert: Tls.Pem = { file: "/etc/ssl/example.com.crt" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Pem = Redacted.Redacted<string> | { readonly file: string }

/**
 * A private key and its certificate chain.
 *
 * **Example** (Credentials from files)
 *
 * ```ts
 * const credentials: Tls.Credentials = { key: { file: "key.pem" }, cert: { file: "fullchain.pem" } }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Credentials {
  /** Private key, PEM. */
  readonly key: Pem
  /** Certificate, PEM (leaf first, then intermediates). */
  readonly cert: Pem
  /** Passphrase of an encrypted key. */
  readonly passphrase?: Redacted.Redacted<string> | undefined
}

/**
 * Options shared by servers and clients.
 *
 * **Example** (TLS 1.3 only, HTTP/2 preferred)
 *
 * ```ts
 * const common: Tls.CommonOptions = { minVersion: "TLSv1.3", alpn: ["h2", "http/1.1"] }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CommonOptions {
  /**
   * Trusted CAs, PEM. Given, they replace the system's roots (a client trusts
   * only these; a server verifies client certificates against them).
   */
  readonly ca?: Pem | ReadonlyArray<Pem> | undefined
  /** ALPN protocols in order of preference, e.g. `["h2", "http/1.1"]`. */
  readonly alpn?: ReadonlyArray<string> | undefined
  /** Lowest protocol version accepted. Default `"TLSv1.2"`. */
  readonly minVersion?: NodeTls.SecureVersion | undefined
  /** Highest protocol version accepted. Default: the newest Node supports. */
  readonly maxVersion?: NodeTls.SecureVersion | undefined
  /**
   * OpenSSL cipher list, e.g. `"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"`; TLS 1.3
   * suite names (`TLS_AES_128_GCM_SHA256`) may be listed too. On a server its order is the preference
   * order (see `honorCipherOrder`). Default: Node's (`tls.DEFAULT_CIPHERS`), forward-secret suites first.
   */
  readonly ciphers?: string | undefined
}

/**
 * Options of a TLS server: its credentials, more credentials by server name
 * (SNI), and optional client certificate checks.
 *
 * **Example** (Two names on one port)
 *
 * ```ts
 * const tls: Tls.ServerOptions = {
 *   key: { file: "example.com.key" },
 *   cert: { file: "example.com.crt" },
 *   sni: { "*.example.org": { key: { file: "example.org.key" }, cert: { file: "example.org.crt" } } },
 *   alpn: ["http/1.1"]
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServerOptions extends CommonOptions, Credentials {
  /**
   * Credentials by server name, picked from the client's SNI. Keys are host
   * names (case-insensitive) or `*.domain` wildcards (one label). A name
   * without an entry gets the default `key`/`cert`.
   */
  readonly sni?: Readonly<Record<string, Credentials>> | undefined
  /** Ask clients for a certificate, verified against `ca`. Default false. */
  readonly requestCert?: boolean | undefined
  /** With `requestCert`, refuse clients without a valid certificate. Default true. */
  readonly rejectUnauthorized?: boolean | undefined
  /**
   * Pick the cipher suite by the server's order (`ciphers`) rather than the
   * client's. Default true, as `tls.createServer`: a client that lists a suite
   * without forward secrecy first still gets an ECDHE one.
   */
  readonly honorCipherOrder?: boolean | undefined
}

/**
 * Options of a TLS client.
 *
 * **Example** (Trusting a private CA)
 *
 * ```ts
 * Tcp.connect({ host: "db.internal", port: 5433, tls: { ca: { file: "internal-ca.pem" }, alpn: ["postgresql"] } })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientOptions extends CommonOptions {
  /**
   * Server name sent as SNI and verified against the certificate. Default: the
   * host connected to (an IP address is verified against the certificate's IP
   * SANs and sent as no SNI).
   */
  readonly servername?: string | undefined
  /** Client certificate key, PEM (mutual TLS). */
  readonly key?: Pem | undefined
  /** Client certificate, PEM (mutual TLS). */
  readonly cert?: Pem | undefined
  /** Passphrase of an encrypted `key`. */
  readonly passphrase?: Redacted.Redacted<string> | undefined
  /**
   * Verify the server's certificate and name. Default true. `false` accepts
   * any certificate (and is logged once per process as a warning).
   */
  readonly rejectUnauthorized?: boolean | undefined
}

/**
 * What `Connection.upgradeTls` (STARTTLS) and `handshake` do: take the server
 * or the client side of a handshake over the connection's socket, bounded by
 * `handshakeTimeout`. This is the one place a handshake reads its timeout:
 * `Tcp.serve({ handshakeTimeout })` and `Tcp.connect({ handshakeTimeout })`
 * pass theirs here.
 *
 * **Example** (Both sides of STARTTLS)
 *
 * ```ts
 * server.upgradeTls({ server: serverContext, handshakeTimeout: "5 seconds" })
 * client.upgradeTls({ client: { servername: "mail.example.com" } })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type UpgradeOptions =
  | {
    /** Credentials, or a (reloadable) context made by `makeServerContext`. */
    readonly server: ServerOptions | ServerContext
    /** Bounds the handshake; it then fails with `TlsError { reason: "Timeout" }`. Default 10 seconds. */
    readonly handshakeTimeout?: Duration.Input | undefined
  }
  | {
    /** Client options, or a context made by `makeClientContext`. */
    readonly client: ClientOptions | ClientContext
    /** The name or address the certificate must match when `servername` is absent. Default: the peer's address. */
    readonly host?: string | undefined
    /** Bounds the handshake; it then fails with `TlsError { reason: "Timeout" }`. Default 10 seconds. */
    readonly handshakeTimeout?: Duration.Input | undefined
  }

/**
 * A summary of a peer's certificate.
 *
 * **Example** (Days left on the server's certificate)
 *
 * ```ts
 * const cert = conn.tls?.peerCertificate
 * cert && Math.floor((cert.validTo.getTime() - Date.now()) / 86_400_000) // => 89
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CertificateSummary {
  /** Subject common name. */
  readonly subject: string | undefined
  /** Issuer common name. */
  readonly issuer: string | undefined
  readonly validFrom: Date
  readonly validTo: Date
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string
  /** Subject alternative names as OpenSSL prints them: `DNS:localhost`, `IP Address:127.0.0.1`. */
  readonly subjectAltNames: ReadonlyArray<string>
  readonly serialNumber: string
}

/**
 * What a handshake negotiated.
 *
 * **Example** (Reading the negotiated protocol)
 *
 * ```ts
 * const info = conn.tls
 * info?.alpn // => "h2"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Info {
  /** `"TLSv1.3"`, `"TLSv1.2"`. */
  readonly protocol: string
  /** Cipher suite, e.g. `"TLS_AES_256_GCM_SHA384"`. */
  readonly cipher: string
  /** The ALPN protocol agreed on, if any. */
  readonly alpn: string | undefined
  /** The SNI server name: sent by the client (server side) or requested (client side). */
  readonly servername: string | undefined
  /** Whether the peer's certificate was verified. */
  readonly authorized: boolean
  /** Why it was not, when it was not. */
  readonly authorizationError: string | undefined
  /** The peer's certificate; absent for a server that did not ask for one. */
  readonly peerCertificate: CertificateSummary | undefined
}

// =============================================================================
// Errors
// =============================================================================

/**
 * Where a TLS condition happened (`Errors.TlsErrorContext`).
 *
 * **Example** (Classifying with context)
 *
 * ```ts
 * const where: Tls.ErrorContext = { host: "127.0.0.1", port: 443, servername: "example.com" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ErrorContext = TlsErrorContext

/**
 * Classifies an error Node raised during a TLS handshake into a `TlsError`;
 * the same function as `Errors.fromNodeTlsError`, where the table of codes is.
 *
 * **Example** (A self-signed server)
 *
 * ```ts
 * const error = Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" })
 * Tls.fromNodeError(error).reason // => "CertificateVerify"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromNodeError: (error: unknown, context?: ErrorContext | undefined) => TlsError = fromNodeTlsError

/** What a PEM is, for messages: "cannot read TLS CA file /x". */
type PemRole = "key" | "certificate" | "CA"

/** A PEM file that could not be read, named with its role and the system's reason once. */
const fileError = (role: PemRole, file: string, error: unknown): TlsError => {
  const e = (typeof error === "object" && error !== null ? error : {}) as { code?: string; errno?: number }
  const why = typeof e.errno === "number" ? getSystemErrorMessage(e.errno) : String(error)
  return new TlsError({
    reason: "Configuration",
    code: e.code,
    errno: e.errno,
    detail: `cannot read TLS ${role} file ${file}: ${why}`,
    cause: error
  })
}

/** Credentials that were read but do not load (bad PEM, key not matching the certificate, a wrong passphrase). */
const configurationError = (error: unknown): TlsError =>
  error instanceof TlsError ? error : new TlsError({
    reason: "Configuration",
    code: (error as { code?: string } | undefined)?.code,
    detail: `cannot load TLS credentials: ${error instanceof Error ? error.message : String(error)}`,
    cause: error
  })

// =============================================================================
// Credentials
// =============================================================================

/**
 * Wraps PEM text as a `Pem` (a `Redacted` string).
 *
 * **Example** (Credentials from the environment)
 *
 * ```ts
 * const tls = { key: Tls.pem(process.env.KEY!), cert: Tls.pem(process.env.CERT!) }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const pem = (text: string): Pem => Redacted.make(text, { label: "pem" })

const readPem = (source: Pem, role: PemRole): Promise<string> =>
  Redacted.isRedacted(source)
    ? Promise.resolve(Redacted.value(source))
    : readFile(source.file, "utf8").catch((error: unknown) => Promise.reject(fileError(role, source.file, error)))

const readPems = (source: Pem | ReadonlyArray<Pem> | undefined): Promise<Array<string> | undefined> =>
  source === undefined
    ? Promise.resolve(undefined)
    : Promise.all((Array.isArray(source) ? source : [source as Pem]).map((pem) => readPem(pem, "CA")))

const secureContextOf = async (
  options: CommonOptions & {
    readonly key?: Pem | undefined
    readonly cert?: Pem | undefined
    readonly passphrase?: Redacted.Redacted<string> | undefined
    readonly honorCipherOrder?: boolean | undefined
  }
): Promise<NodeTls.SecureContext> => {
  const [key, cert, ca] = await Promise.all([
    options.key === undefined ? undefined : readPem(options.key, "key"),
    options.cert === undefined ? undefined : readPem(options.cert, "certificate"),
    readPems(options.ca)
  ])
  return NodeTls.createSecureContext({
    minVersion: options.minVersion ?? "TLSv1.2",
    ...(key !== undefined && { key }),
    ...(cert !== undefined && { cert }),
    ...(ca !== undefined && { ca }),
    ...(options.passphrase !== undefined && { passphrase: Redacted.value(options.passphrase) }),
    ...(options.maxVersion !== undefined && { maxVersion: options.maxVersion }),
    ...(options.ciphers !== undefined && { ciphers: options.ciphers }),
    ...(options.honorCipherOrder !== undefined && { honorCipherOrder: options.honorCipherOrder })
  })
}

/** ALPN protocols in wire format, built once per context. */
const alpnOf = (alpn: ReadonlyArray<string> | undefined): Buffer | undefined => {
  if (alpn === undefined || alpn.length === 0) return undefined
  return Buffer.concat(alpn.map((protocol) => {
    const name = Buffer.from(protocol, "latin1")
    return Buffer.concat([Buffer.of(name.length), name])
  }))
}

const toMillis = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

const defaultHandshakeMillis = 10_000

// =============================================================================
// Server contexts
// =============================================================================

const ServerContextTypeId = "~fiberloop/net/Tls/ServerContext"
const ClientContextTypeId = "~fiberloop/net/Tls/ClientContext"

/**
 * Loaded server credentials that can be replaced while serving.
 *
 * **Example** (Reloading certificates on SIGHUP)
 *
 * ```ts
 * const context = yield* Tls.makeServerContext(options)
 * yield* Tcp.serve({ port: 443, tls: context, handler })
 * process.on("SIGHUP", () => Effect.runFork(context.reload(options)))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServerContext {
  readonly [ServerContextTypeId]: typeof ServerContextTypeId
  /** The options the current credentials were loaded from. */
  readonly options: ServerOptions
  /**
   * Loads new credentials; handshakes that start afterwards use them,
   * established connections keep theirs. If they cannot be loaded, fails with
   * `TlsError { reason: "Configuration" }` and the old ones stay.
   */
  reload(options: ServerOptions): Effect.Effect<void, TlsError>
}

/** One generation of a server's credentials: what a handshake needs, and the SNI contexts. */
interface ServerState extends TlsHandshake.ServerParameters {
  readonly options: ServerOptions
  readonly names: Map<string, NodeTls.SecureContext>
  readonly wildcards: Map<string, NodeTls.SecureContext>
}

const loadServerState = async (options: ServerOptions, sniCallback: NodeTls.TLSSocketOptions["SNICallback"]) => {
  const sni = Object.entries(options.sni ?? {})
  const honorCipherOrder = options.honorCipherOrder ?? true
  const [secureContext, ...sniContexts] = await Promise.all([
    secureContextOf({ ...options, honorCipherOrder }),
    ...sni.map(([, credentials]) =>
      secureContextOf({
        ...credentials,
        ca: options.ca,
        minVersion: options.minVersion,
        maxVersion: options.maxVersion,
        ciphers: options.ciphers,
        honorCipherOrder
      })
    )
  ])
  const names = new Map<string, NodeTls.SecureContext>()
  const wildcards = new Map<string, NodeTls.SecureContext>()
  sni.forEach(([name, _], i) => {
    const lower = name.toLowerCase()
    if (lower.startsWith("*.")) wildcards.set(lower.slice(1), sniContexts[i]!)
    else names.set(lower, sniContexts[i]!)
  })
  const requestCert = options.requestCert ?? false
  const alpn = alpnOf(options.alpn)
  const socketOptions: NodeTls.TLSSocketOptions = {
    isServer: true,
    secureContext: secureContext!,
    requestCert,
    rejectUnauthorized: requestCert && (options.rejectUnauthorized ?? true),
    ...(alpn !== undefined && { ALPNProtocols: alpn }),
    ...(sni.length > 0 && { SNICallback: sniCallback })
  }
  return {
    options,
    socketOptions,
    names,
    wildcards,
    clients: !requestCert ? "ignore" : (options.rejectUnauthorized ?? true) ? "require" : "request"
  } satisfies ServerState
}

class ServerContextImpl implements ServerContext {
  readonly [ServerContextTypeId] = ServerContextTypeId
  /** The current credentials; set by the first `reload`, before the context is handed out. */
  state!: ServerState

  get options(): ServerOptions {
    return this.state.options
  }

  /** Picks the credentials for the client's SNI name; made once per context, not per handshake. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: NodeTls.SecureContext) => void): void => {
    const state = this.state
    const name = servername.toLowerCase()
    const exact = state.names.get(name)
    if (exact !== undefined) return cb(null, exact)
    const dot = name.indexOf(".")
    const wildcard = dot > 0 ? state.wildcards.get(name.slice(dot)) : undefined
    // undefined keeps the default context the socket was made with
    cb(null, wildcard)
  }

  reload(options: ServerOptions): Effect.Effect<void, TlsError> {
    return Effect.tryPromise({
      try: () => loadServerState(options, this.sniCallback),
      catch: configurationError
    }).pipe(Effect.map((state) => void (this.state = state)))
  }
}

/**
 * Loads server credentials (files are read now) into a context that
 * `Tcp.serve({ tls })` and `upgradeTls({ server })` use, and that can be
 * reloaded while serving.
 *
 * **Example** (Loading once, serving twice)
 *
 * ```ts
 * const context = yield* Tls.makeServerContext({ key: { file: "key.pem" }, cert: { file: "cert.pem" } })
 * yield* Tcp.serve({ port: 443, tls: context, handler })
 * yield* Tcp.serve({ port: 8443, tls: context, handler })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeServerContext = (options: ServerOptions): Effect.Effect<ServerContext, TlsError> =>
  Effect.suspend(() => {
    const context = new ServerContextImpl()
    return Effect.as(context.reload(options), context)
  })

/**
 * Whether a value is a `ServerContext`.
 *
 * **Example** (Options or context)
 *
 * ```ts
 * Tls.isServerContext(yield* Tls.makeServerContext(options)) // => true
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isServerContext = (u: unknown): u is ServerContext =>
  typeof u === "object" && u !== null && ServerContextTypeId in u

// =============================================================================
// Client contexts
// =============================================================================

/**
 * Loaded client options: build once, connect many times without parsing the
 * CA again.
 *
 * **Example** (A pool of verified connections)
 *
 * ```ts
 * const tls = yield* Tls.makeClientContext({ ca: { file: "ca.pem" } })
 * yield* Tcp.connect({ host: "db.internal", port: 5433, tls })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientContext {
  readonly [ClientContextTypeId]: typeof ClientContextTypeId
  /** The options this context was loaded from. */
  readonly options: ClientOptions
}

class ClientContextImpl implements ClientContext, TlsHandshake.ClientParameters {
  readonly [ClientContextTypeId] = ClientContextTypeId
  readonly options: ClientOptions
  readonly secureContext: NodeTls.SecureContext
  readonly alpn: Buffer | undefined

  constructor(options: ClientOptions, secureContext: NodeTls.SecureContext) {
    this.options = options
    this.secureContext = secureContext
    this.alpn = alpnOf(options.alpn)
  }
}

/**
 * Loads client options (files are read now) for `Tcp.connect({ tls })` and
 * `upgradeTls({ client })`.
 *
 * **Example** (Trusting one CA)
 *
 * ```ts
 * const tls = yield* Tls.makeClientContext({ ca: { file: "ca.pem" }, alpn: ["h2"] })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeClientContext = (options: ClientOptions): Effect.Effect<ClientContext, TlsError> =>
  Effect.tryPromise({
    try: () => secureContextOf(options),
    catch: configurationError
  }).pipe(Effect.map((secureContext) => new ClientContextImpl(options, secureContext)))

/**
 * Whether a value is a `ClientContext`.
 *
 * **Example** (Options or context)
 *
 * ```ts
 * Tls.isClientContext({ servername: "example.com" }) // => false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isClientContext = (u: unknown): u is ClientContext =>
  typeof u === "object" && u !== null && ClientContextTypeId in u

/**
 * A context given as such, or made from options. Contexts made from a plain
 * option object are cached by its identity, so passing the same object again
 * does not reload it.
 */
const contextOf = <O extends object, P, C extends P>(
  impl: abstract new(...args: Array<any>) => C,
  make: (options: O) => Effect.Effect<P, TlsError>
) => {
  const made = new WeakMap<O, C>()
  return (input: O | P): Effect.Effect<C, TlsError> => {
    if (input instanceof impl) return Effect.succeed(input)
    const cached = made.get(input as O)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.map(make(input as O), (context) => {
      made.set(input as O, context as C)
      return context as C
    })
  }
}

const serverContextOf = contextOf<ServerOptions, ServerContext, ServerContextImpl>(ServerContextImpl, makeServerContext)
const clientContextOf = contextOf<ClientOptions, ClientContext, ClientContextImpl>(ClientContextImpl, makeClientContext)

let warnedUnverified = false

const warnUnverified = Effect.suspend(() => {
  if (warnedUnverified) return Effect.void
  warnedUnverified = true
  return Effect.logWarning(
    "fiberloop: TLS client with rejectUnauthorized: false; server certificates are not verified (logged once)"
  )
})

// =============================================================================
// Handshakes
// =============================================================================

/**
 * Runs a TLS handshake over a connected plain socket and returns the secure
 * socket. `Connection.upgradeTls` and `Tcp.serve`/`Tcp.connect` with `tls` use
 * it; call it directly only for sockets fiberloop does not own.
 *
 * **Details**
 *
 * Bytes already buffered in `socket` (e.g. `socket.unshift(unread)` of a
 * ClientHello read along with a STARTTLS command) are fed to the handshake.
 * `onSecure` runs synchronously when the handshake completes, before any
 * event of the secure socket can be missed; without it, a no-op `error`
 * listener stays on the returned socket. On failure, timeout or interruption
 * both sockets are destroyed. A peer that closes before sending a byte fails
 * with `ConnectionClosed`; every other failure is a `TlsError`.
 *
 * **Example** (A client handshake over a socket from elsewhere)
 *
 * ```ts
 * const secure = yield* Tls.handshake(socket, { client: { servername: "example.com" } })
 * secure.getProtocol() // => "TLSv1.3"
 * ```
 *
 * @category handshakes
 * @since 0.1.0
 */
export const handshake: (
  socket: Net.Socket,
  options: UpgradeOptions,
  onSecure?: ((secure: NodeTls.TLSSocket) => void) | undefined
) => Effect.Effect<NodeTls.TLSSocket, TlsError | ConnectionClosed> = Effect.fn("Tls.handshake")(
  function*(socket: Net.Socket, options: UpgradeOptions, onSecure?: ((secure: NodeTls.TLSSocket) => void) | undefined) {
    const millis = toMillis(options.handshakeTimeout, defaultHandshakeMillis)
    if ("server" in options) {
      const context = yield* serverContextOf(options.server)
      return yield* TlsHandshake.server(socket, context.state, millis, onSecure)
    }
    const context = yield* clientContextOf(options.client)
    if (context.options.rejectUnauthorized === false) yield* warnUnverified
    return yield* TlsHandshake.client(socket, context, options.host, millis, onSecure)
  }
)

// =============================================================================
// Negotiated parameters
// =============================================================================

const kInfo = Symbol.for("fiberloop/net/Tls/info")

const summarize = (cert: NodeTls.PeerCertificate): CertificateSummary | undefined => {
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) return undefined
  const first = (value: string | Array<string> | undefined) => (Array.isArray(value) ? value[0] : value)
  return {
    subject: first(cert.subject?.CN),
    issuer: first(cert.issuer?.CN),
    validFrom: new Date(cert.valid_from),
    validTo: new Date(cert.valid_to),
    fingerprint256: cert.fingerprint256,
    subjectAltNames: cert.subjectaltname === undefined ? [] : cert.subjectaltname.split(", "),
    serialNumber: cert.serialNumber
  }
}

/**
 * What a secure socket negotiated, or `undefined` for a plain one. Computed
 * on first use and kept with the socket. `Connection.tls` reads it.
 *
 * **Example** (The certificate a server presented)
 *
 * ```ts
 * Tls.infoOf(conn.socket)?.peerCertificate?.subject // => "example.com"
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const infoOf = (socket: Net.Socket): Info | undefined => {
  if (!(socket instanceof NodeTls.TLSSocket)) return undefined
  const holder = socket as NodeTls.TLSSocket & { [kInfo]?: Info }
  if (holder[kInfo] !== undefined) return holder[kInfo]
  const servername = (socket as { servername?: string | false | null }).servername
  const info: Info = {
    protocol: socket.getProtocol() ?? "unknown",
    cipher: socket.getCipher()?.name ?? "unknown",
    alpn: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : undefined,
    servername: typeof servername === "string" ? servername : undefined,
    authorized: socket.authorized,
    authorizationError: socket.authorizationError === null || socket.authorizationError === undefined
      ? undefined
      : String(socket.authorizationError),
    peerCertificate: summarize(socket.getPeerCertificate())
  }
  if (!socket.destroyed) holder[kInfo] = info
  return info
}
