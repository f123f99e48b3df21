/**
 * The four upstream proposals for Effect 4.1.0 (docs/performance.md, "Upstream proposals"),
 * as edits of `effect/dist/internal/effect.js` (and the two other dist modules
 * that push onto a fiber's stack). bench/upstream/run.ts applies them to a
 * temporary copy of the package, never to node_modules.
 *
 * Every edit names the exact text it replaces and must match exactly once (or,
 * for `all`, at least once), so a changed Effect fails loudly instead of being
 * measured half-patched.
 */

/** One textual edit of one dist file. */
export interface Edit {
  readonly file: string
  readonly from: string
  readonly to: string
  readonly all?: boolean
}

/** A named proposal and its edits. */
export interface Patch {
  readonly name: string
  readonly title: string
  readonly edits: ReadonlyArray<Edit>
}

const effectJs = "dist/internal/effect.js"

/**
 * (a) Async-context capture behind a fiber-cached Reference (default on, as
 * now). The bench opts out by providing `false` for the key
 * "effect/References/AsyncContextPropagation".
 */
const asyncContext: Patch = {
  name: "a",
  title: "captureAsyncContext opt-out",
  edits: [
    {
      file: effectJs,
      from: `const captureAsyncContext = () => AsyncResource === undefined ? undefined : new AsyncResource("effect/Fiber");`,
      to: `const captureAsyncContext = () => AsyncResource === undefined ? undefined : new AsyncResource("effect/Fiber");
/** @internal */
export const AsyncContextPropagation = /*#__PURE__*/Context.Reference("effect/References/AsyncContextPropagation", {
  fiberCached: true,
  defaultValue: constTrue
});`
    },
    {
      file: effectJs,
      from: `    preventYield: Context.get(context, Scheduler.PreventSchedulerYield)
  };`,
      to: `    preventYield: Context.get(context, Scheduler.PreventSchedulerYield),
    asyncContext: AsyncResource !== undefined && Context.get(context, AsyncContextPropagation)
  };`
    },
    {
      file: effectJs,
      from: `    if (exit === Yield) {
      this._asyncContext = captureAsyncContext();`,
      to: `    if (exit === Yield) {
      if (this.cache.asyncContext) this._asyncContext = new AsyncResource("effect/Fiber");`
    },
    {
      file: effectJs,
      from: `    child._asyncContext = captureAsyncContext();`,
      to: `    if (child.cache.asyncContext) child._asyncContext = new AsyncResource("effect/Fiber");`
    }
  ]
}

/**
 * (b) One frame object per callback suspension: it holds the state the four
 * closures captured, is the interrupt finalizer pushed on the fiber's stack,
 * and is what `_yielded` points at; the only closure left is `resume`.
 */
const callbackFrame: Patch = {
  name: "b",
  title: "callback suspension as one frame",
  edits: [
    {
      file: effectJs,
      from: `    [evaluate](fiber) {
      let resumed = false;
      let yielded = false;
      const controller = this.withSignal ? new AbortController() : undefined;
      const onCancel = this.register.call(fiber.cache.scheduler, effect => {
        if (resumed) return;
        resumed = true;
        if (yielded) {
          fiber.evaluate(effect);
        } else {
          yielded = effect;
        }
      }, controller?.signal);
      if (yielded !== false) return yielded;
      yielded = true;
      // V8 pretenures closures assigned to a property; a method argument avoids that and survives minification
      fiber.yieldWith(() => {
        resumed = true;
      });
      if (controller === undefined && onCancel === undefined) {
        return Yield;
      }
      fiber._stack.push(asyncFinalizer(() => {
        resumed = true;
        controller?.abort();
        return onCancel ?? exitVoid;
      }));
      return Yield;
    }`,
      to: `    [evaluate](fiber) {
      const frame = new AsyncFrame(fiber, this.withSignal ? new AbortController() : undefined);
      const onCancel = this.register.call(fiber.cache.scheduler, effect => frame.resume(effect), frame.controller?.signal);
      if (frame.yielded !== false) return frame.yielded;
      frame.yielded = true;
      fiber.yieldWith(frame);
      if (frame.controller === undefined && onCancel === undefined) {
        return Yield;
      }
      frame.onCancel = onCancel;
      fiber._stack.push(frame);
      return Yield;
    }`
    },
    {
      file: effectJs,
      from: `const asyncFinalizer = /*#__PURE__*/makePrimitive({`,
      to: `const AsyncFrame = function (fiber, controller) {
  this.fiber = fiber;
  this.resumed = false;
  this.yielded = false;
  this.controller = controller;
  this.onCancel = undefined;
};
AsyncFrame.prototype = /*#__PURE__*/makePrimitiveProto({
  op: "AsyncFinalizer",
  [contAll](fiber) {
    if (fiber.interruptible) {
      fiber.interruptible = false;
      fiber._stack.push(setInterruptibleTrue);
    }
  },
  [contE](cause, _fiber) {
    return hasInterrupts(cause) ? flatMap(combineFinalizerCause(exitFailCause(cause), this.interrupt()), () => failCause(cause)) : failCause(cause);
  }
});
AsyncFrame.prototype.resume = function (effect) {
  if (this.resumed) return;
  this.resumed = true;
  if (this.yielded === true) {
    this.fiber.evaluate(effect);
  } else {
    this.yielded = effect;
  }
};
AsyncFrame.prototype.interrupt = function () {
  this.resumed = true;
  this.controller?.abort();
  return this.onCancel ?? exitVoid;
};
const asyncFinalizer = /*#__PURE__*/makePrimitive({`
    },
    {
      file: effectJs,
      from: `      const yielded = this._yielded;
      this._yielded = undefined;
      yielded();`,
      to: `      const yielded = this._yielded;
      this._yielded = undefined;
      if (typeof yielded === "function") yielded();else yielded.resumed = true;`
    },
    {
      file: effectJs,
      from: `              this._yielded = undefined;
              yielded();`,
      to: `              this._yielded = undefined;
              if (typeof yielded === "function") yielded();else yielded.resumed = true;`
    }
  ]
}

/**
 * (c) The fiber's stack grows 4, 8, 16, ... with an explicit stack pointer,
 * instead of `[]` whose first push makes V8 allocate 17 slots.
 */
const stack: Patch = {
  name: "c",
  title: "stack grows from 4 slots",
  edits: [
    {
      file: effectJs,
      from: `    this._stack = [];`,
      to: `    this._stack = emptyStack;
    this._sp = 0;`
    },
    {
      file: effectJs,
      from: `  getRef(ref) {`,
      to: `  pushStack(op) {
    if (this._sp === this._stack.length) this._stack = growStack(this._stack);
    this._stack[this._sp++] = op;
  }
  popStack() {
    if (this._sp === 0) return undefined;
    const op = this._stack[--this._sp];
    this._stack[this._sp] = undefined;
    return op;
  }
  getRef(ref) {`
    },
    {
      file: effectJs,
      from: `export class FiberImpl {`,
      to: `const emptyStack = /*#__PURE__*/Object.freeze([]);
const growStack = stack => {
  if (stack.length === 0) return [undefined, undefined, undefined, undefined];
  const next = new Array(stack.length * 2);
  for (let i = 0; i < stack.length; i++) next[i] = stack[i];
  return next;
};
export class FiberImpl {`
    },
    {
      file: effectJs,
      from: `    this._stack.length = 0;`,
      to: `    this._stack = emptyStack;
    this._sp = 0;`
    },
    { file: effectJs, from: `const op = this._stack.pop();`, to: `const op = this.popStack();` },
    { file: effectJs, from: `._stack.push(`, to: `.pushStack(`, all: true },
    { file: "dist/http/HttpEffect.js", from: `fiber._stack.push(frame);`, to: `fiber.pushStack(frame);` },
    { file: "dist/socket/DatagramSocket.js", from: `fiber._stack.push(state.unpark);`, to: `fiber.pushStack(state.unpark);` }
  ]
}

/** (d) A fiber's only observer is stored as the function itself, not in a one-element array. */
const observer: Patch = {
  name: "d",
  title: "single observer without an array",
  edits: [
    {
      file: effectJs,
      from: `    if (this._observers === undefined) {
      this._observers = [cb];
    } else {
      this._observers.push(cb);
    }`,
      to: `    if (this._observers === undefined) {
      this._observers = cb;
    } else if (typeof this._observers === "function") {
      this._observers = [this._observers, cb];
    } else {
      this._observers.push(cb);
    }`
    },
    {
      file: effectJs,
      from: `    if (this._exit || this._observers === undefined) return;
    const index`,
      to: `    if (this._exit || this._observers === undefined) return;
    if (typeof this._observers === "function") {
      if (this._observers === cb) this._observers = undefined;
      return;
    }
    const index`
    },
    {
      file: effectJs,
      from: `      const observers = this._observers;
      this._observers = undefined;
      for (let i = 0; i < observers.length; i++) {`,
      to: `      const observers = this._observers;
      this._observers = undefined;
      if (typeof observers === "function") observers(exit);else for (let i = 0; i < observers.length; i++) {`
    }
  ]
}

/** Every proposal, in the order of the write-up. */
export const patches: ReadonlyArray<Patch> = [asyncContext, callbackFrame, stack, observer]
