/**
 * Typed local actors: definitions (effect/rpc protocols), supervised spawn,
 * refs with tell/ask, a registry, dead letters and inspection.
 *
 * @since 0.1.0
 */
export * as Actor from "./Actor.ts"
export * as ActorError from "./ActorError.ts"
export * as ActorCluster from "./ActorCluster.ts"
export * as ClusterLayer from "./cluster/ClusterLayer.ts"
export * as ActorSystem from "./ActorSystem.ts"
export * as Supervision from "./Supervision.ts"
