/**
 * Copas-grade synchronisation primitives as Effect values: no sockets.
 *
 * @since 0.1.0
 */
export * as Lock from "./Lock.ts"
export * as Semaphore from "./Semaphore.ts"
export * as Channel from "./Channel.ts"
export * as Queue from "./Queue.ts"
export * as Timer from "./Timer.ts"
