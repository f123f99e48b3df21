/**
 * Network modules: typed errors, connections, TCP, TLS, UDP and DNS.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"
export * as Connection from "./Connection.ts"
export * as ReadBuffer from "./ReadBuffer.ts"
export * as Decoder from "./Decoder.ts"
export * as Tcp from "./Tcp.ts"
export * as Udp from "./Udp.ts"
export * as Tls from "./Tls.ts"
export * as SocketServer from "./SocketServer.ts"
export * as Http from "./Http.ts"
export * as HttpFetch from "./HttpFetch.ts"
export * as HttpRequest from "./HttpRequest.ts"
export * as HttpMetrics from "./HttpMetrics.ts"
export * as Workers from "./Workers.ts"
