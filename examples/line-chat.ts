/**
 * A line chat: every line a member sends goes to every other member.
 * This is `npm start`.
 *
 *   npx node examples/line-chat.ts [port]   (default 7000; 0 picks a free port)
 *   then, from two terminals:  nc 127.0.0.1 7000
 *
 * Commands: /nick NAME, /who, /quit. Each member has a bounded outbox drained
 * by its own writer fiber, so a member who stops reading loses messages
 * instead of stalling the room.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { type Connection, Loop, Tcp } from "../src/index.ts"

const port = Number(process.argv[2] ?? process.env.PORT ?? 7000)

interface Member {
  name: string
  readonly outbox: Queue.Queue<string>
}

const members = new Map<Connection.Connection, Member>()
let guests = 0

const broadcast = (from: Connection.Connection | undefined, text: string) =>
  Effect.sync(() => {
    for (const [conn, member] of members) if (conn !== from) Queue.offerUnsafe(member.outbox, text)
  })

const command = (conn: Connection.Connection, member: Member, line: string) => {
  if (line === "/who") return conn.send(`* here: ${[...members.values()].map((m) => m.name).join(", ")}\n`)
  if (line.startsWith("/nick ")) {
    const old = member.name
    member.name = line.slice(6).trim() || old
    return broadcast(undefined, `* ${old} is now ${member.name}\n`)
  }
  return broadcast(conn, `<${member.name}> ${line}\n`)
}

const chat = (conn: Connection.Connection) =>
  Effect.gen(function*() {
    const member: Member = { name: `guest${++guests}`, outbox: yield* Queue.dropping<string>(256) }
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(member.outbox), (text) => conn.send(text))))
    yield* conn.send(`Welcome to fiberloop chat, ${member.name}. Commands: /nick NAME, /who, /quit\n`)
    yield* broadcast(conn, `* ${member.name} joined\n`)
    members.set(conn, member)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        members.delete(conn)
        return broadcast(conn, `* ${member.name} left\n`)
      })
    )
    for (;;) {
      const line = (yield* conn.receive("*l")).trim()
      if (line === "/quit") return yield* conn.send("* bye\n")
      if (line.length > 0) yield* command(conn, member, line)
    }
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const server = yield* Tcp.serve({ host: "127.0.0.1", port, maxConnections: 1000, maxLineLength: 4096, handler: chat })
  yield* Console.log(`line-chat listening on ${server.address.host}:${server.address.port}`)
  yield* Console.log(`talk to it from two terminals: nc ${server.address.host} ${server.address.port}   (Ctrl-C stops)`)
  return yield* Effect.never
})

Loop.run(Effect.scoped(program))
