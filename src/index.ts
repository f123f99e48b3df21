/**
 * fiberloop: network concurrency for Effect.
 *
 * Every connection is a fiber that owns a scoped socket; servers, clients and
 * DNS are services in a Layer graph; every connection condition is a typed
 * error.
 *
 * @since 0.1.0
 */
export * as Loop from "./Loop.ts"
export * as Stats from "./Stats.ts"
export * from "./net/index.ts"
export * from "./sync/index.ts"
