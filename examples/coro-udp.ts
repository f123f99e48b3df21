/**
 * The Copas manual's UDP server: one handler thread reads datagrams and
 * answers each sender.
 *
 *   npx fiberloop run examples/coro-udp.ts [port]      then: nc -u 127.0.0.1 <port>
 */
import { copas, type Socket } from "../src/coro/index.ts"

const port = Number(process.argv[2] ?? 20001)

const handler = async (skt: Socket.UdpSocket) => {
  for (;;) {
    const [data, ip, from] = await skt.receivefrom()
    await skt.sendto(`received: ${data}`, ip, from)
  }
}

const server = await copas.udp("127.0.0.1", port)
await copas.addserver(server, handler)
console.log(`udp server listening on 127.0.0.1:${server.getsockname()[1]}`)
await copas.loop()
