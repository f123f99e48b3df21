/**
 * The Copas manual's echo server, in JavaScript: a thread per client that
 * sends every line back until the client says "quit".
 *
 *   npx fiberloop run examples/coro-echo.ts [port]     then: nc 127.0.0.1 <port>
 *   npx node examples/coro-echo.ts [port]              (the same, without the command)
 */
import { copas, type Socket } from "../src/coro/index.ts"

const port = Number(process.argv[2] ?? 20000)

const echoHandler = async (skt: Socket.TcpSocket) => {
  for (;;) {
    const data = await skt.receive() // rejects with "closed" when the client hangs up: the handler just ends
    if (data === "quit") break
    await skt.send(`${data}\n`)
  }
}

const server = await copas.addserver({ host: "127.0.0.1", port }, echoHandler)
console.log(`echo server listening on 127.0.0.1:${server.address.port}`)
await copas.loop()
