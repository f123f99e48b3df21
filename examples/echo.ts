/**
 * An echo server: every line a client sends comes back.
 *
 *   npx node examples/echo.ts [port]        then: nc 127.0.0.1 <port>
 */
import * as Effect from "effect/Effect"
import { Loop, Tcp } from "../src/index.ts"

const port = Number(process.argv[2] ?? 7000)

// hoisted: one generator function serves every connection
const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
})

const program = Effect.gen(function*() {
  const server = yield* Tcp.serve({
    host: "127.0.0.1",
    port,
    maxConnections: 10_000,
    idle: "5 minutes",
    handler: echo
  })
  yield* Effect.log(`echo server on ${server.address.host}:${server.address.port} (try: nc 127.0.0.1 ${server.address.port})`)
  return yield* Effect.never
})

Loop.run(Effect.scoped(program))
