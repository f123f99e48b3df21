/**
 * Supervision strategies, after Erlang/OTP supervisors and Akka Typed.
 *
 * A failure is a defect in a handler, or the behaviour failing to build (a
 * handler's typed error is its reply, not a failure). Each actor has a
 * `Strategy` for its own failures, chosen when it is spawned:
 *
 * - `restart`: rebuild the state by running the behaviour again; the mailbox
 *   is kept (the failing message is dropped). Each restart waits the next
 *   delay of a `Schedule` (backoff); more than `maxRestarts` within `within`,
 *   or the schedule ending, escalates.
 * - `resume`: keep the state, drop the failing message, go on.
 * - `stop`: stop the actor; watchers see the failure.
 * - `escalate`: stop the actor and fail its parent with the cause (an
 *   `ActorError` with reason `Escalated`); the parent's own strategy decides.
 *   A top-level actor that escalates just stops.
 *
 * A parent with several children picks how a restart spreads among them
 * (`Group`): `"one-for-one"` restarts the failed child only,
 * `"one-for-all"` all of its children, `"rest-for-one"` the failed child and
 * those spawned after it. Every restart and stop is logged and counted.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Schedule from "effect/Schedule"

/**
 * What to do when an actor fails.
 *
 * ```ts
 * const strategy: Supervision.Strategy = Supervision.restart({ maxRestarts: 5 })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Strategy = Restart | Resume | Stop | Escalate

/**
 * Restart with backoff and a restart intensity.
 *
 * ```ts
 * Supervision.restart({ within: "1 minute" }).withinMillis // => 60000
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Restart {
  readonly _tag: "Restart"
  /** Restarts allowed within `within` before escalating. */
  readonly maxRestarts: number
  /** The intensity window, in milliseconds. */
  readonly withinMillis: number
  /** Delays between restarts (its n-th delay before the n-th restart in the window), if any. */
  readonly backoff: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Keep the state and go on with the next message.
 *
 * ```ts
 * Supervision.resume._tag // => "Resume"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Resume {
  readonly _tag: "Resume"
}

/**
 * Stop the actor.
 *
 * ```ts
 * Supervision.stop._tag // => "Stop"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Stop {
  readonly _tag: "Stop"
}

/**
 * Stop the actor and fail its parent.
 *
 * ```ts
 * Supervision.escalate._tag // => "Escalate"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Escalate {
  readonly _tag: "Escalate"
}

/**
 * How a restart spreads over a parent's children.
 *
 * ```ts
 * Actor.spawn(Pipeline, { children: "rest-for-one" satisfies Supervision.Group })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Group = "one-for-one" | "one-for-all" | "rest-for-one"

/**
 * Restart on failure. Defaults: `maxRestarts` 3 `within` 5 seconds, no
 * backoff (restart at once). The backoff's n-th delay comes before the n-th
 * restart inside the window; after a quiet window it starts over.
 *
 * **Example** (Exponential backoff, at most 5 restarts a minute)
 *
 * ```ts
 * Supervision.restart({ maxRestarts: 5, within: "1 minute", backoff: Schedule.exponential("100 millis") })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const restart = (options?: {
  readonly maxRestarts?: number | undefined
  readonly within?: Duration.Input | undefined
  readonly backoff?: Schedule.Schedule<unknown, unknown> | undefined
}): Restart => ({
  _tag: "Restart",
  maxRestarts: options?.maxRestarts ?? 3,
  withinMillis: Duration.toMillis(Duration.fromInputUnsafe(options?.within ?? "5 seconds")),
  backoff: options?.backoff
})

/**
 * Resume on failure: keep the state, drop the failing message. A behaviour
 * that fails to build cannot resume: the actor stops.
 *
 * ```ts
 * Actor.spawn(Cache, { supervision: Supervision.resume })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const resume: Resume = { _tag: "Resume" }

/**
 * Stop on failure.
 *
 * ```ts
 * Actor.spawn(Session, { supervision: Supervision.stop })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const stop: Stop = { _tag: "Stop" }

/**
 * Escalate on failure: stop, and fail the parent.
 *
 * ```ts
 * Actor.spawn(Worker, { supervision: Supervision.escalate })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const escalate: Escalate = { _tag: "Escalate" }

/**
 * The default strategy: `restart()` (3 restarts within 5 seconds, no backoff).
 *
 * ```ts
 * Supervision.defaultStrategy._tag // => "Restart"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultStrategy: Restart = restart()
