/**
 * A line chat on actors: one actor per room holds its members, every
 * connection is a fiber that tells and asks them. This is `npm start`.
 *
 *   npx node examples/line-chat.ts [port]   (default 7000; 0 picks a free port)
 *   then, from two terminals:  nc 127.0.0.1 7000
 *
 * Commands: /nick NAME, /who, /join ROOM, /rooms, /crash, /quit. Everyone
 * starts in room "main"; lines go to the room joined last. Each connection
 * has a Member actor whose mailbox (256, policy "drop") is its outbox, so a
 * member who stops reading loses messages instead of stalling a room. The
 * Lobby actor opens rooms as its children and supervises them: `/crash`
 * makes a room's handler die, the Lobby restarts it, and no connection
 * notices beyond a notice line. Room members live in a table the Lobby owns
 * (the OTP pattern of an ETS table owned by the supervisor), so a restarted
 * room still knows them. A dropped connection leaves its rooms (its scope's
 * finalizer) and its Member actor stops with it.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import { Actor, ActorSystem, Supervision } from "../src/actor/index.ts"
import { Loop, Tcp } from "../src/index.ts"

const port = Number(process.argv[2] ?? process.env.PORT ?? 7000)

// =============================================================================
// Protocols
// =============================================================================

const Deliver = Rpc.make("Deliver", { payload: { text: Schema.String } })
const MemberProtocol = RpcGroup.make(Deliver)
type MemberRef = Actor.ActorRef<typeof Deliver>
const MemberRef = Actor.refSchema<typeof Deliver>()

const RoomProtocol = RpcGroup.make(
  Rpc.make("Join", { payload: { member: MemberRef, nick: Schema.String } }),
  Rpc.make("Leave", { payload: { member: MemberRef } }),
  Rpc.make("Say", { payload: { member: MemberRef, text: Schema.String } }),
  Rpc.make("Rename", { payload: { member: MemberRef, nick: Schema.String } }),
  Rpc.make("Who", { success: Schema.Array(Schema.String) }),
  Rpc.make("Crash")
)
type RoomRef = Actor.ActorRef<RpcGroup.Rpcs<typeof RoomProtocol>>
const RoomRef = Actor.refSchema<RpcGroup.Rpcs<typeof RoomProtocol>>()

const LobbyProtocol = RpcGroup.make(
  Rpc.make("Open", { payload: { room: Schema.String }, success: RoomRef }),
  Rpc.make("Rooms", { success: Schema.Array(Schema.String) })
)

// =============================================================================
// Actors
// =============================================================================

/** A connection's outbox: writes each line it is told; a closed socket just ends the deliveries. */
const member = (conn: Tcp.Connection) =>
  Actor.make("Member", {
    protocol: MemberProtocol,
    behaviour: () => Effect.succeed(MemberProtocol.of({ Deliver: ({ text }) => Effect.ignore(conn.send(text)) }))
  })

/** One room; `members` (member -> nick, in join order) belongs to the Lobby and outlives restarts. */
const room = (name: string, members: Map<MemberRef, string>) =>
  Actor.make("Room", {
    protocol: RoomProtocol,
    behaviour: Effect.fnUntraced(function*() {
      const prefix = name === "main" ? "" : `[${name}] `
      const send = (to: MemberRef, text: string) => Effect.ignore(to.tell("Deliver", { text: `${prefix}${text}\n` }))
      const broadcast = (text: string, except?: MemberRef) =>
        Effect.forEach(members.keys(), (m) => m === except ? Effect.void : send(m, text), { discard: true })
      if (members.size > 0) yield* broadcast(`* room ${name} restarted`)
      return RoomProtocol.of({
        Join: ({ member, nick }) =>
          Effect.suspend(() => {
            members.set(member, nick)
            return broadcast(`* ${nick} joined`, member)
          }),
        Leave: ({ member }) =>
          Effect.suspend(() => {
            const nick = members.get(member)
            if (nick === undefined) return Effect.void
            members.delete(member)
            return broadcast(`* ${nick} left`)
          }),
        Say: ({ member, text }) =>
          Effect.suspend(() => broadcast(`<${members.get(member) ?? "?"}> ${text}`, member)),
        Rename: ({ member, nick }) =>
          Effect.suspend(() => {
            const old = members.get(member)
            members.set(member, nick)
            return broadcast(`* ${old} is now ${nick}`)
          }),
        Who: () => Effect.sync(() => Array.from(members.values())),
        Crash: () => Effect.die(new Error(`room ${name} was told to crash`))
      })
    })
  })

/** Opens rooms as its children (restarted on failure) and lists them. */
const Lobby = Actor.make("Lobby", {
  protocol: LobbyProtocol,
  behaviour: Effect.fnUntraced(function*() {
    const rooms = new Map<string, { readonly ref: RoomRef; readonly members: Map<MemberRef, string> }>()
    return LobbyProtocol.of({
      Open: Effect.fnUntraced(function*({ room: name }) {
        const open = rooms.get(name)
        if (open !== undefined) return open.ref
        const members = new Map<MemberRef, string>()
        const ref = yield* Actor.spawn(room(name, members), {
          name: `room:${name}`,
          supervision: Supervision.restart({ maxRestarts: 5, within: "10 seconds" })
        }).pipe(Effect.orDie)
        rooms.set(name, { ref, members })
        return ref
      }),
      Rooms: () => Effect.sync(() => Array.from(rooms, ([name, r]) => `${name} (${r.members.size})`))
    })
  })
})

// =============================================================================
// Connections
// =============================================================================

const program = Effect.gen(function*() {
  const lobby = yield* Actor.spawn(Lobby, { name: "lobby" })
  let guests = 0

  const chat = Effect.fnUntraced(function*(conn: Tcp.Connection) {
    let nick = `guest${++guests}`
    const self: MemberRef = yield* Actor.spawn(member(conn), { capacity: 256, whenFull: "drop" })
    const joined: Array<RoomRef> = []
    yield* Effect.addFinalizer(() => Effect.forEach(joined, (r) => Effect.ignore(r.tell("Leave", { member: self }))))
    const join = Effect.fnUntraced(function*(name: string) {
      const ref = yield* lobby.ask("Open", { room: name })
      if (!joined.includes(ref)) {
        yield* ref.ask("Join", { member: self, nick })
        joined.push(ref)
      }
      return ref
    })
    yield* conn.send(`Welcome to fiberloop chat, ${nick}. Commands: /nick NAME, /who, /join ROOM, /rooms, /quit\n`)
    let current = yield* join("main")
    for (;;) {
      const line = (yield* conn.receive("*l")).trim()
      if (line === "/quit") return yield* conn.send("* bye\n")
      if (line === "/who") yield* conn.send(`* here: ${(yield* current.ask("Who")).join(", ")}\n`)
      else if (line === "/rooms") yield* conn.send(`* rooms: ${(yield* lobby.ask("Rooms")).join(", ")}\n`)
      else if (line === "/crash") yield* current.tell("Crash")
      else if (line.startsWith("/join ")) current = yield* join(line.slice(6).trim() || "main")
      else if (line.startsWith("/nick ")) {
        nick = line.slice(6).trim() || nick
        yield* Effect.forEach(joined, (r) => r.tell("Rename", { member: self, nick }), { discard: true })
      } else if (line.length > 0) yield* current.tell("Say", { member: self, text: line })
    }
  })

  const server = yield* Tcp.serve({ host: "127.0.0.1", port, maxConnections: 1000, maxLineLength: 4096, handler: chat })
  yield* Console.log(`line-chat listening on ${server.address.host}:${server.address.port}`)
  yield* Console.log(`talk to it from two terminals: nc ${server.address.host} ${server.address.port}   (Ctrl-C stops)`)
  return yield* Effect.never
})

Loop.run(program.pipe(Effect.provide(ActorSystem.layer), Effect.scoped))
