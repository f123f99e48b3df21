/**
 * The server side of bench/resp.bench.ts (protocol in bench/server-process.ts):
 * `node bench/resp-process.ts fiberloop|patterns|raw` serves RESP on
 * 127.0.0.1, as examples/resp-server.ts (`Tcp.serve`, one `send` per reply;
 * its decoder, or its read-pattern handler) or as
 * bench/resp-raw-server.ts (raw `node:net`, one write per 'data' event).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import type * as Net from "node:net"
import * as Resp from "../examples/resp-server.ts"
import * as Tcp from "../src/net/Tcp.ts"
import { makeRawServer } from "./resp-raw-server.ts"
import { announce } from "./server-process.ts"
import { withAsyncContextFromEnv } from "./upstream/cycle.ts"

if (process.argv[2] === "raw") {
  const server = makeRawServer()
  let open = 0
  server.on("connection", (socket) => {
    open++
    socket.once("close", () => open--)
  })
  server.listen(0, "127.0.0.1", 4096, () => announce((server.address() as Net.AddressInfo).port, () => open))
} else {
  Effect.runFork(
    withAsyncContextFromEnv(Effect.gen(function*() {
      const framing = process.argv[2] === "patterns" ? "patterns" : "decoder"
      const server = yield* Resp.serve({ host: "127.0.0.1", port: 0, framing })
      announce(server.address.port, () => server.stats().active)
      return yield* Effect.never
    })).pipe(Effect.scoped, Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({})))))
  )
}
