/**
 * TLS handshakes over a connected plain socket, and the one place fiberloop
 * touches Node's private TLS API.
 *
 * A server handshake wraps the socket in `new tls.TLSSocket(socket, { isServer })`
 * (what `tls.Server` does per connection), a client handshake calls
 * `tls.connect({ socket })`. Both run inside the calling fiber, bounded by a
 * timer, and settle on the first of success, failure, end of stream or the
 * timeout; on failure or interruption both sockets are destroyed. Each end is
 * counted in the process-wide counts `Stats` reports (done, or failed by
 * reason).
 *
 * Private Node API used here, and why (a Node upgrade that changes it breaks
 * only this module):
 * - the `_tlsError` event: until control is released, a server socket reports
 *   handshake errors only through it (`tls.Server` turns them into
 *   `'tlsClientError'`), then closes;
 * - `_handle.verifyError()`: the client certificate's verification result, as
 *   `tls.Server` reads it on `'secure'`;
 * - `_releaseControl()`: from then on errors are the socket's own `'error'`
 *   events (`tls.Server` calls it once the handshake is done).
 *
 * `Tls.handshake` is the public entry; it resolves contexts and calls
 * `server` or `client` here.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Net from "node:net"
import { isIP } from "node:net"
import * as NodeTls from "node:tls"
import { counts } from "../../internal/counters.ts"
import { ConnectionClosed, fromNodeTlsError, TlsError, type TlsErrorContext, withoutStack } from "../Errors.ts"

/**
 * Whether a server ignores client certificates, asks for one, or requires one.
 *
 * @category models
 * @since 0.1.0
 */
export type ClientCertificates = "ignore" | "request" | "require"

/**
 * One generation of a server's loaded credentials, as a handshake needs them.
 *
 * **Example** (What a server context holds)
 *
 * ```ts
 * const state: ServerParameters = { socketOptions: { isServer: true, secureContext }, clients: "ignore" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServerParameters {
  /** Options for `new TLSSocket`, shared by every handshake of this generation (Node copies them). */
  readonly socketOptions: NodeTls.TLSSocketOptions
  /** Whether client certificates are ignored, asked for, or required. */
  readonly clients: ClientCertificates
}

/**
 * A loaded client context, as a handshake needs it.
 *
 * **Example** (What a client context holds)
 *
 * ```ts
 * const context: ClientParameters = { options: { servername: "example.com" }, secureContext, alpn: undefined }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientParameters {
  /** The name to send and verify, and whether to verify at all. */
  readonly options: {
    readonly servername?: string | undefined
    readonly rejectUnauthorized?: boolean | undefined
  }
  readonly secureContext: NodeTls.SecureContext
  /** ALPN protocols in wire format. */
  readonly alpn: Buffer | undefined
}

type Secure = NodeTls.TLSSocket & {
  secureConnecting?: boolean
  _releaseControl?: () => boolean
  _handle?: { verifyError?: () => (Error & { code?: string }) | null } | null
}

const ignore = (): void => {}

const hasPeerCertificate = (secure: NodeTls.TLSSocket): boolean => {
  const cert = secure.getPeerCertificate()
  return cert !== null && cert !== undefined && Object.keys(cert).length > 0
}

/**
 * Runs one handshake: `start` wraps the plain socket, then the first of
 * success, failure, end of stream or the timeout settles it. Everything is
 * destroyed on failure or interruption.
 */
const run = (
  socket: Net.Socket,
  isServer: boolean,
  clients: ClientCertificates,
  millis: number,
  where: TlsErrorContext,
  start: () => NodeTls.TLSSocket,
  onSecure: ((secure: NodeTls.TLSSocket) => void) | undefined
) =>
  Effect.callback<NodeTls.TLSSocket, TlsError | ConnectionClosed>((resume) => {
    let secure: Secure
    try {
      secure = start()
    } catch (error) {
      socket.destroy()
      const e = fromNodeTlsError(error, where)
      counts.tlsFailed[e.reason]++
      return resume(Effect.fail(e))
    }
    let tlsError: Error | undefined
    let settled = false
    const timer = setTimeout(() =>
      fail(withoutStack(() =>
        new TlsError({ ...where, reason: "Timeout", code: "ERR_TLS_HANDSHAKE_TIMEOUT", timeoutMillis: millis })
      )), millis)
    const stop = (): void => {
      settled = true
      clearTimeout(timer)
      secure.off(isServer ? "secure" : "secureConnect", onDone)
      secure.off("error", onError)
      secure.off("_tlsError", onTlsError)
      secure.off("end", onEnd)
      secure.off("close", onEnd)
    }
    const fail = (error: TlsError | ConnectionClosed): void => {
      if (settled) return
      stop()
      secure.on("error", ignore)
      secure.destroy()
      socket.destroy()
      counts.tlsFailed[error._tag === "TlsError" ? error.reason : "Closed"]++
      resume(Effect.fail(error))
    }
    const onError = (error: Error): void => fail(fromNodeTlsError(error, where))
    const onTlsError = (error: Error): void => void (tlsError ??= error)
    const onEnd = (): void => {
      if (tlsError !== undefined) return fail(fromNodeTlsError(tlsError, where))
      // a peer that hangs up before saying anything is end of stream, not a failed handshake
      if (socket.bytesRead === 0) {
        return fail(withoutStack(() => new ConnectionClosed({ partial: new Uint8Array(0), ...where })))
      }
      fail(withoutStack(() =>
        new TlsError({
          ...where,
          reason: "Handshake",
          code: "ECONNRESET",
          detail: "the peer closed the connection during the handshake"
        })
      ))
    }
    const onDone = (): void => {
      if (settled) return
      if (isServer) {
        // what `tls.Server` does on `secure`: judge the client's certificate, then take errors as `error` events
        if (clients !== "ignore") {
          const verifyError = secure._handle?.verifyError?.() ?? null
          const judged = secure as unknown as { authorized: boolean; authorizationError: string | undefined }
          if (verifyError !== null) judged.authorizationError = verifyError.code ?? verifyError.message
          else if (!hasPeerCertificate(secure)) judged.authorizationError = "UNABLE_TO_GET_ISSUER_CERT"
          else judged.authorized = true
          if (clients === "require" && !secure.authorized) {
            return fail(fromNodeTlsError(
              verifyError ??
                Object.assign(new Error("the client sent no certificate"), {
                  code: "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
                }),
              where
            ))
          }
        }
        secure._releaseControl?.()
        // `tls.Server` clears it on 'secure'; left set, node:http2 waits for a 'secureConnect' that never comes
        secure.secureConnecting = false
      }
      stop()
      counts.tlsDone++
      if (onSecure === undefined) secure.on("error", ignore)
      else onSecure(secure)
      resume(Effect.succeed(secure))
    }
    secure.once(isServer ? "secure" : "secureConnect", onDone)
    secure.on("error", onError)
    secure.on("_tlsError", onTlsError)
    secure.on("end", onEnd)
    secure.on("close", onEnd)
    return Effect.sync(() => {
      if (settled) return
      stop()
      counts.tlsFailed.Interrupted++
      secure.on("error", ignore)
      secure.destroy()
      socket.destroy()
    })
  })

/**
 * The server side of a handshake over `socket`, bounded by `millis`.
 *
 * **Example** (Serving one handshake)
 *
 * ```ts
 * const secure = yield* TlsHandshake.server(socket, context.state, 10_000, undefined)
 * ```
 *
 * @category handshakes
 * @since 0.1.0
 */
export const server = (
  socket: Net.Socket,
  state: ServerParameters,
  millis: number,
  onSecure: ((secure: NodeTls.TLSSocket) => void) | undefined
): Effect.Effect<NodeTls.TLSSocket, TlsError | ConnectionClosed> =>
  run(
    socket,
    true,
    state.clients,
    millis,
    { host: socket.remoteAddress, port: socket.remotePort },
    () => new NodeTls.TLSSocket(socket, state.socketOptions),
    onSecure
  )

/**
 * The client side of a handshake over `socket`, bounded by `millis`. The
 * certificate must name `options.servername`, else `host`, else the peer's
 * address (an IP is verified against IP SANs and sent as no SNI).
 *
 * **Example** (Verifying example.com)
 *
 * ```ts
 * const secure = yield* TlsHandshake.client(socket, context, "example.com", 10_000, undefined)
 * ```
 *
 * @category handshakes
 * @since 0.1.0
 */
export const client = (
  socket: Net.Socket,
  context: ClientParameters,
  host: string | undefined,
  millis: number,
  onSecure: ((secure: NodeTls.TLSSocket) => void) | undefined
): Effect.Effect<NodeTls.TLSSocket, TlsError | ConnectionClosed> => {
  const options = context.options
  const identity = options.servername ?? host ?? socket.remoteAddress ?? "localhost"
  const servername = options.servername ?? (isIP(identity) === 0 ? identity : undefined)
  return run(
    socket,
    false,
    "ignore",
    millis,
    { host: host ?? socket.remoteAddress, port: socket.remotePort, servername: servername ?? identity },
    () =>
      NodeTls.connect({
        socket,
        host: identity,
        secureContext: context.secureContext,
        rejectUnauthorized: options.rejectUnauthorized !== false,
        ...(servername !== undefined && { servername }),
        ...(context.alpn !== undefined && { ALPNProtocols: context.alpn })
      }),
    onSecure
  )
}
