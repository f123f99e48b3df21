/**
 * A connection's socket listeners: module functions (no closures per
 * connection) that find their connection through the socket.
 *
 * @since 0.1.0
 */
import type * as Net from "node:net"

const kOwner = Symbol.for("fiberloop/net/Connection/owner")

/**
 * What a socket's events are delivered to: its connection.
 *
 * ```ts
 * class ConnectionImpl implements SocketOwner { data(chunk: Buffer) { ... } }
 * ```
 */
export interface SocketOwner {
  data(chunk: Buffer): void
  end(): void
  error(error: Error): void
  closed(): void
  idle(): void
}

type OwnedSocket = Net.Socket & { [kOwner]?: SocketOwner }

function onData(this: OwnedSocket, chunk: Buffer) {
  this[kOwner]!.data(chunk)
}
function onEnd(this: OwnedSocket) {
  this[kOwner]!.end()
}

/**
 * Node's own `'end'` listener, which every `net.Socket` registers when it is
 * made (`onReadableStreamEnd`). A second listener would turn the socket's
 * one-function `'end'` entry into an array (about 100 B per connection), so
 * `onEndInPlace` takes its place and calls it first, as it would have run.
 */
let nodeOnEnd: ((this: Net.Socket) => void) | undefined
function onEndInPlace(this: OwnedSocket) {
  nodeOnEnd!.call(this)
  this[kOwner]!.end()
}
type Events = Record<string | symbol, unknown>
const eventsOf = (socket: Net.Socket): Events | undefined => (socket as unknown as { _events?: Events })._events

/** Listens for `'end'` in the place of Node's own listener when it is the only one, else beside it. */
const listenForEnd = (socket: OwnedSocket): void => {
  const events = eventsOf(socket)
  const current = events?.end
  if (nodeOnEnd === undefined && typeof current === "function" && current.name === "onReadableStreamEnd") {
    nodeOnEnd = current as (this: Net.Socket) => void
  }
  if (current !== undefined && current === nodeOnEnd) events!.end = onEndInPlace
  else socket.on("end", onEnd)
}

/** Undoes `listenForEnd`. */
const stopListeningForEnd = (socket: OwnedSocket): void => {
  const events = eventsOf(socket)
  if (events?.end === onEndInPlace) events.end = nodeOnEnd
  else socket.off("end", onEnd)
}
function onError(this: OwnedSocket, error: Error) {
  this[kOwner]!.error(error)
}
function onClose(this: OwnedSocket) {
  this[kOwner]!.closed()
}
/**
 * The `'timeout'` listener (the idle timeout), added and removed as the
 * timeouts change.
 *
 * ```ts
 * socket.on("timeout", onIdle)
 * ```
 */
export function onIdle(this: OwnedSocket) {
  this[kOwner]!.idle()
}

/**
 * Delivers `socket`'s events to `owner` (data, end, error, close; the idle
 * timeout when `idleMillis` is set).
 *
 * ```ts
 * listen(socket, this, settings.idleMillis)
 * ```
 */
export const listen = (socket: Net.Socket, owner: SocketOwner, idleMillis: number | undefined): void => {
  const owned = socket as OwnedSocket
  owned[kOwner] = owner
  owned.on("data", onData)
  listenForEnd(owned)
  owned.on("error", onError)
  owned.on("close", onClose)
  if (idleMillis !== undefined) {
    owned.setTimeout(idleMillis)
    owned.on("timeout", onIdle)
  }
}

/**
 * Undoes `listen`: the socket's events go nowhere (and its idle timeout is
 * off).
 *
 * ```ts
 * unlisten(socket)
 * ```
 */
export const unlisten = (socket: Net.Socket): void => {
  const owned = socket as OwnedSocket
  owned.off("data", onData)
  stopListeningForEnd(owned)
  owned.off("error", onError)
  owned.off("close", onClose)
  owned.off("timeout", onIdle)
  owned.setTimeout(0)
  delete owned[kOwner]
}
