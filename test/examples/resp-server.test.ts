import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { fileURLToPath } from "node:url"
import { rawClient, rawWrite, readBytes, spawnProcess } from "../net/support.ts"

const example = fileURLToPath(new URL("../../examples/resp-server.ts", import.meta.url))

describe("examples/resp-server", () => {
  it.live("runs as a program: answers pipelined multibulk and inline commands, stops on SIGINT", () =>
    Effect.gen(function*() {
      const server = yield* spawnProcess(process.execPath, [example, "0"])
      const banner = yield* server.line
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(banner)?.[1])
      assert.isAbove(port, 0, banner)
      const socket = yield* rawClient(port)
      const expected = "+PONG\r\n+OK\r\n$12\r\nhello\r\nthere\r\n:1\r\n:2\r\n"
      const reply = yield* Effect.forkChild(readBytes(socket, expected.length))
      // one write: inline, multibulk (a value with CRLF inside), and inline again
      yield* rawWrite(
        socket,
        "PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nhello\r\nthere\r\n" +
          "*2\r\n$3\r\nGET\r\n$1\r\nk\r\nINCR n\r\nincr n\n"
      )
      assert.strictEqual(yield* Fiber.join(reply), expected)
      server.child.kill("SIGINT")
      assert.include([0, 130], yield* server.exited, server.stderr())
    }).pipe(Effect.timeout("50 seconds")), { timeout: 60_000 })
})
