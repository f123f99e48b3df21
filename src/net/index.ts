/**
 * Network modules: typed errors, connections, TCP, TLS, UDP and DNS.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"
