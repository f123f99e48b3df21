/**
 * The Copas manual's timer: a recurring timer that cancels itself after its
 * fifth run; the loop ends when it is no longer armed.
 *
 *   npx fiberloop run examples/coro-timer.ts
 */
import { copas } from "../src/coro/index.ts"

let count = 0

copas.timer.new({
  name: "my timer",
  delay: 0.2,
  recurring: true,
  params: "hello world",
  callback: (timer, params) => {
    count++
    console.log(`${count}: ${params}`)
    if (count === 5) timer.cancel()
  }
})

await copas.loop()
