/**
 * The default Layer graph and a `main` that runs a program on it.
 *
 * `Loop.layer` gives a program every network service fiberloop has, over the
 * real network with the system resolver. `Loop.layerWithoutDns` is the same
 * graph with the resolver left as an input, for a static `Dns` in tests or a
 * resolver of your own. docs/wiring.md shows every way to put them together.
 *
 * @since 0.1.0
 */
import * as NodeDns from "@effect/platform-node/NodeDns"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Dns from "effect/net/Dns"
import * as Tcp from "./net/Tcp.ts"
import * as Udp from "./net/Udp.ts"

/**
 * Every service of `Loop.layer` but the resolver, which it takes as an input:
 * provide any `Dns` layer (`Dns.layerStatic` in tests, a caching or DNS-over-
 * HTTPS resolver in production). Named for what it leaves out, as the layer's
 * third type parameter says; a function taking the `Dns` layer would add
 * nothing to `Layer.provide`.
 *
 * **Example** (A static resolver in a test)
 *
 * ```ts
 * const TestLoop = Loop.layerWithoutDns.pipe(
 *   Layer.provideMerge(Dns.layerStatic({ hosts: { "db.test": ["127.0.0.1"] } }))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWithoutDns: Layer.Layer<Tcp.Tcp | Udp.Udp, never, Dns.Dns> = Layer.mergeAll(Tcp.layer, Udp.layer)

/**
 * Every service a fiberloop program may need, on the real network.
 *
 * **Example** (Serving with the default services)
 *
 * ```ts
 * Tcp.serve({ port: 7000, handler }).pipe(Effect.andThen(Effect.never), Effect.scoped, Effect.provide(Loop.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Tcp.Tcp | Udp.Udp | Dns.Dns> = layerWithoutDns.pipe(
  Layer.provideMerge(NodeDns.layer)
)

/**
 * Runs a program on `Loop.layer` as the process's main fiber: SIGINT and
 * SIGTERM interrupt it, so every server drains and every socket closes before
 * the process exits.
 *
 * **Example** (A program's entry point)
 *
 * ```ts
 * Loop.run(Effect.scoped(Effect.andThen(Tcp.serve({ port: 7000, handler }), Effect.never)))
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = <A, E>(program: Effect.Effect<A, E, Tcp.Tcp | Udp.Udp | Dns.Dns>): void =>
  NodeRuntime.runMain(Effect.provide(program, layer))
