/**
 * A connection's options resolved into its settings: limits with their
 * defaults, timeouts in milliseconds, shared by every connection made with
 * the same options object.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type { Options, Timeouts } from "../Connection.ts"

const toMillis = (input: Duration.Input | undefined): number | undefined =>
  input === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(input))

/**
 * A connection's limits, and its timeouts in milliseconds.
 *
 * ```ts
 * if (buffer.length >= settings.highWaterMark) socket.pause()
 * ```
 */
export interface Settings {
  readonly maxLineLength: number
  readonly maxAll: number
  readonly highWaterMark: number
  readonly readMillis: number | undefined
  readonly writeMillis: number | undefined
  readonly idleMillis: number | undefined
}

/**
 * Timeouts in milliseconds (`undefined`: none).
 *
 * ```ts
 * timeoutsOf({ read: "5 seconds" }).readMillis // => 5000
 * ```
 */
export const timeoutsOf = (timeouts: Timeouts | undefined) => ({
  readMillis: toMillis(timeouts?.read),
  writeMillis: toMillis(timeouts?.write),
  idleMillis: toMillis(timeouts?.idle)
})

const resolve = (options: Options | undefined): Settings => ({
  maxLineLength: options?.maxLineLength ?? 65536,
  maxAll: options?.maxAll ?? 16 * 1024 * 1024,
  highWaterMark: options?.highWaterMark ?? 65536,
  ...timeoutsOf(options)
})

const defaults = resolve(undefined)
/** Settings by options object: a server passes one options object for all its connections, so they share one. */
const resolved = new WeakMap<Options, Settings>()
/**
 * The settings of a connection made with `options`, resolved once per
 * options object.
 *
 * ```ts
 * const settings = settingsOf(options)
 * ```
 */
export const settingsOf = (options: Options | undefined): Settings => {
  if (options === undefined) return defaults
  let settings = resolved.get(options)
  if (settings === undefined) {
    settings = resolve(options)
    resolved.set(options, settings)
  }
  return settings
}
