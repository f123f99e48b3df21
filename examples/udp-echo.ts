/**
 * A UDP echo server: every datagram goes back to its sender.
 *
 *   npx node examples/udp-echo.ts                starts on 127.0.0.1, sends itself three datagrams, prints
 *                                                the echoes and exits
 *   npx node examples/udp-echo.ts --serve [port] stays up (Ctrl-C to stop);
 *                                                try: python3 -c 'import socket; s=socket.socket(socket.AF_INET,
 *                                                socket.SOCK_DGRAM); s.sendto(b"hi", ("127.0.0.1", <port>));
 *                                                print(s.recv(100))'
 */
import * as NodeDns from "@effect/platform-node/NodeDns"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Udp } from "../src/net/index.ts"

const serve = process.argv.includes("--serve")
const port = serve ? Number(process.argv[process.argv.indexOf("--serve") + 1] ?? 0) || 0 : 0

const program = Effect.gen(function*() {
  const server = yield* Udp.serve({
    host: "127.0.0.1",
    port,
    concurrency: 1024,
    handler: ({ data, reply }) => reply(data)
  })
  yield* Console.log(`udp echo server on ${server.address.address}:${server.address.port}`)
  if (serve) return yield* Effect.never

  const client = yield* Udp.bind({ host: "127.0.0.1" })
  for (const message of ["hello", "from", "fiberloop"]) {
    yield* client.sendTo(message, "127.0.0.1", server.address.port)
    const echo = yield* client.receiveFrom().pipe(Effect.timeout("2 seconds"))
    yield* Console.log(`${echo.address}:${echo.port} echoed "${Buffer.from(echo.data).toString()}"`)
  }
  yield* Console.log(`received ${server.received}, dropped ${server.dropped}, failures ${server.failures}`)
})

NodeRuntime.runMain(
  program.pipe(
    Effect.scoped,
    Effect.provide(Udp.layer.pipe(Layer.provide(NodeDns.layer)))
  )
)
