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
export * from "./actor/index.ts"
/**
 * The sync primitives (`Sync.Lock`, `Sync.Semaphore`, `Sync.Queue`,
 * `Sync.Channel`, `Sync.Timer`), under one namespace so that they never clash
 * with Effect's own `Queue`, `Semaphore` and `Channel` modules in a file that
 * uses both. `fiberloop/sync` exports the same modules unprefixed.
 *
 * **Example** (fiberloop's queue next to Effect's)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Queue from "effect/Queue"
 * import { Sync } from "fiberloop"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Queue.bounded<string>(16)      // Effect's queue
 *   const jobs = yield* Sync.Channel.make<string>()       // fiberloop's channel
 *   const lock = yield* Sync.Lock.make()
 *   return { mailbox, jobs, lock }
 * })
 * ```
 *
 * @since 0.1.0
 */
export * as Sync from "./sync/index.ts"
