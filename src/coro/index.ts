/**
 * The coroutine facade: Copas's and socketloop's APIs for async functions and
 * generator coroutines, each a fiber on fiberloop's runtime.
 *
 * `copas` and `socketloop` are the process's instances; `Copas.make` and
 * `Socketloop.make` build others. See docs/coro.md for the migration table
 * and the return convention.
 *
 * @since 0.1.0
 */
export { copas } from "./copas.ts"
export { socketloop } from "./socketloop.ts"
export { CopasError, errorString, tuple } from "./Errors.ts"
export * as Copas from "./copas.ts"
export * as Socketloop from "./socketloop.ts"
export * as Runtime from "./Runtime.ts"
export * as Socket from "./Socket.ts"
export * as Sync from "./Sync.ts"
export * as Thread from "./Thread.ts"
