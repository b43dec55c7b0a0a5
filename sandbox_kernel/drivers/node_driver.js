// sandbox-kernel session driver for Node.js, run as: node -e SOURCE NONCE 3<&0 </dev/null: requests
// arrive on the control channel, descriptor 3; frames go to stdout and stderr (drivers/PROTOCOL.md,
// version 2).
//
// Cells behave like Node's REPL: they are evaluated by V8 in "REPL mode" through the inspector
// (the mode Chrome DevTools' console uses), which gives top-level await, re-declarable top-level
// let/const/class and the value of the last expression. Dynamic import() in a cell is rewritten to
// a hidden import function, because code the inspector compiles has no module loader attached.
//
// Invisibility: the driver's names live in this block and behind symbol-keyed, non-enumerable
// globals; the control channel is read by a worker thread from a private copy of descriptor 3, and
// user code gets a process.stdin of its own whose reads become `input` requests while a cell runs
// (end of input when the frontend does not allow stdin; see "the user's stdin" below). stdout and
// stderr are switched to blocking writes, so what a cell wrote is whole even when it calls
// process.exit().
'use strict';
{
const vm = require('vm');
const fs = require('fs');
const crypto = require('crypto');
const { Worker } = require('worker_threads');
const util = require('util');
const stream = require('stream');
const inspector = require('inspector');

let nonce = process.argv[process.argv.length - 1];
const MAX_MESSAGE = Number(process.argv[process.argv.length - 2]) || 4 * 1024 * 1024; // see send()
const CONTROL_FD = 3;
const MAX_VALUE = 1024 * 1024;
const MAX_SOURCE = 10000;
const CGROUP_PEAK = ['/sys/fs/cgroup/memory/memory.max_usage_in_bytes', '/sys/fs/cgroup/memory.peak'];
const IMPORT = Symbol.for('sandbox-kernel.import');
const RECEIVE = Symbol.for('sandbox-kernel.receive');
const INPUT_DELAY = 50; // ms
const INCOMPLETE = /Unexpected end of input|Unterminated template|missing \) after argument list$/;

globalThis.require = require;
process.argv = process.argv.slice(0, 1);
for (const out of [process.stdout, process.stderr]) {
  if (out._handle && typeof out._handle.setBlocking === 'function') out._handle.setBlocking(true);
}

// One frame: RS US NONCE US SIZE US JSON LF, written whole (retrying short writes). The JSON is
// at most the host's message cap (the argument before the nonce), or the host drops the frame:
// over it, rich output becomes a note on stderr and any other message keeps its kind and small
// fields, its long strings and lists truncated with a visible marker (a `done` always arrives).
// MAX_MESSAGE is read at the top, before process.argv is cleared.
function send(message, fd = 1) {
  const write = (target, data) => {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += fs.writeSync(target, data, offset);
      } catch (err) {
        if (err.code !== 'EAGAIN') throw err;
      }
    }
  };
  const sizeText = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
  const shrink = (value, limit) => {
    if (typeof value === 'string') {
      return value.length <= limit ? value
        : `${value.slice(0, limit)}... [sandbox-kernel: truncated, ${value.length - limit} characters not shown]`;
    }
    if (Array.isArray(value)) {
      const items = value.slice(0, limit).map((item) => shrink(item, limit));
      if (value.length > limit && items.every((item) => typeof item === 'string')) {
        items.push(`[sandbox-kernel: truncated, ${value.length - limit} more lines not shown]`);
      }
      return items;
    }
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).slice(0, limit).map(([k, v]) => [k, shrink(v, limit)]));
    }
    return value;
  };
  let body = Buffer.from(JSON.stringify(message));
  if (body.length > MAX_MESSAGE) {
    const rich = { display: 'display_data', execute_result: 'execute_result' }[message.type];
    if (rich) {
      const name = message.update ? 'update_display_data' : rich;
      write(2, Buffer.from(`[sandbox-kernel] dropped ${name === 'execute_result' ? 'an' : 'a'} ${name} output (${sizeText(body.length)}): the message is larger than ${sizeText(MAX_MESSAGE)}\n`));
      return;
    }
    const plain = JSON.parse(body.toString());
    let fitted = null;
    for (let limit = Math.floor(MAX_MESSAGE / 8); limit >= 64 && fitted === null; limit = Math.floor(limit / 4)) {
      const candidate = Buffer.from(JSON.stringify(shrink(plain, limit)));
      if (candidate.length <= MAX_MESSAGE) fitted = candidate;
    }
    if (fitted === null) {
      const small = Object.fromEntries(Object.entries(plain).filter(([, v]) => v === null || ['boolean', 'number'].includes(typeof v)));
      if (message.type === 'done') {
        small.payload = [];
        small.error = plain.error && { ename: shrink(String(plain.error.ename), 64), evalue: '[sandbox-kernel: the error was too large to send]', traceback: [] };
      }
      fitted = Buffer.from(JSON.stringify({ ...small, type: message.type }));
    }
    body = fitted;
  }
  write(fd, Buffer.concat([Buffer.from(`\x1e\x1f${nonce}\x1f${body.length}\x1f`), body, Buffer.from('\n')]));
}

function peakMemory() {
  for (const path of CGROUP_PEAK) {
    try { return Number(fs.readFileSync(path, 'utf8').trim()); } catch (e) { /* next */ }
  }
  return null;
}

// -- the user's stdin ------------------------------------------------------------------------
// process.stdin is a Readable of the driver's: one line per `input` request, end of input when
// the frontend does not allow stdin. A pending read is asked for only while a consumer waits
// for it (a `readable` listener: async iteration, read(); a `data` listener on a flowing
// stream; a readline interface with a question pending or `line` listeners), checked every
// INPUT_DELAY while a cell runs, because a stream resumed by a new consumer does not call _read
// again. A consumer still waiting when its cell ends gets end of input; the stream is then
// ended for good (as in Node), so the next access to process.stdin makes a fresh one. An idle
// interface (open, nothing asked) keeps its read pending across cells, as Node's REPL keeps it.
let cell = null; // {allowStdin, failure, given, serving, unsettled, watchdog} while a cell runs
let userStdin = null;
const endedStdin = new WeakSet();
let pendingRead = null; // the stdin stream whose _read waits for data
let asked = false; // an `input` message for pendingRead is out, unanswered
let checkTimer = null;

// readline keeps its interface in the closure of the `data` listener it adds (`ondata`); the
// inspector shows that closure's variables, so an interface that waits for nothing (idle
// between questions, left open) can be told from one that waits (a question pending, `line`
// listeners: rl.on('line'), for await). Found once per listener, synchronously: the inspector
// answers Runtime calls from this thread at once.
const STASH = Symbol.for('sandbox-kernel.stash');
const interfaces = new WeakMap(); // `data` listener -> its readline interface, or null
function syncPost(method, params) {
  let answer = null;
  session.post(method, params, (err, result) => { answer = err ? null : result; });
  return answer;
}
function interfaceOf(listener) {
  if (listener.name !== 'ondata') return null;
  if (interfaces.has(listener)) return interfaces.get(listener);
  let found = null;
  const objectGroup = 'sandbox-kernel-stdin';
  try {
    Object.defineProperty(globalThis, STASH, { value: listener, configurable: true, enumerable: false });
    const fn = syncPost('Runtime.evaluate', { expression: `globalThis[Symbol.for('sandbox-kernel.stash')]`, objectGroup, silent: true });
    const own = fn && fn.result.objectId && syncPost('Runtime.getProperties', { objectId: fn.result.objectId, ownProperties: true });
    const scopes = own && (own.internalProperties || []).find((p) => p.name === '[[Scopes]]');
    const list = scopes && syncPost('Runtime.getProperties', { objectId: scopes.value.objectId, ownProperties: true });
    for (const scope of (list && list.result) || []) {
      const vars = scope.value && scope.value.objectId && syncPost('Runtime.getProperties', { objectId: scope.value.objectId, ownProperties: true });
      const self = vars && vars.result.find((v) => v.name === 'self');
      if (!self || !self.value || !self.value.objectId) continue;
      received = undefined;
      syncPost('Runtime.callFunctionOn', {
        objectId: self.value.objectId,
        functionDeclaration: `function () { globalThis[Symbol.for('sandbox-kernel.receive')](this); }`,
      });
      if (received && typeof received.getPrompt === 'function' && typeof received.on === 'function') found = received;
      received = undefined;
      break;
    }
  } catch (err) { /* not readline's: a plain consumer */ } finally {
    delete globalThis[STASH];
    session.post('Runtime.releaseObjectGroup', { objectGroup }, () => {});
  }
  interfaces.set(listener, found);
  return found;
}
function questionOf(rl) {
  const key = Object.getOwnPropertySymbols(rl).find((k) => k.description === '_questionCallback');
  return key !== undefined && typeof rl[key] === 'function';
}

// The readline interface or the stream that waits for a line now, or null.
function waitedFor(s) {
  if (s.listenerCount('readable') > 0) return s;
  return s.readableFlowing === true ? dataConsumer(s) : null;
}

// What a `data` listener of s waits for a line for: a plain listener (the stream), a readline
// interface with a question pending or `line` listeners; null if only idle interfaces listen.
function dataConsumer(s) {
  let waiting = null;
  for (const listener of s.listeners('data')) {
    const rl = interfaceOf(listener);
    if (rl === null) waiting = waiting || s;
    else if (!rl.closed && (questionOf(rl) || rl.listenerCount('line') > 0)) {
      if (questionOf(rl)) return rl;
      waiting = waiting || rl;
    }
  }
  return waiting;
}

function endRead() {
  const s = pendingRead;
  pendingRead = null;
  asked = false;
  if (!s) return;
  endedStdin.add(s);
  s.push(null);
  if (cell && cell.unsettled) watchUnsettled(cell);
}

// After end of input, code awaiting a read may wait for ever: readline drops a pending question
// when its input ends. A Node script would then exit ("Detected unsettled top-level await",
// status 13); a cell fails instead of hanging to its timeout, once nothing but the driver is
// left in the event loop (process.getActiveResourcesInfo(), against the driver's own at start).
let ownResources = null;
function nothingLeft() {
  const own = new Map();
  for (const r of ownResources) own.set(r, (own.get(r) || 0) + 1);
  own.set('Timeout', (own.get('Timeout') || 0) + 1 + (checkTimer === null ? 0 : 1));
  for (const r of process.getActiveResourcesInfo()) {
    if (!own.get(r)) return false;
    own.set(r, own.get(r) - 1);
  }
  return true;
}
function watchUnsettled(watched) {
  if (watched.watchdog) return;
  let seen = 0;
  watched.watchdog = setInterval(() => {
    if (cell !== watched || !watched.unsettled) { clearInterval(watched.watchdog); return; }
    seen = !asked && nothingLeft() ? seen + 1 : 0;
    if (seen >= 2) {
      clearInterval(watched.watchdog);
      watched.unsettled(new Error('end of input while the cell awaited a read: nothing is left that could settle its await (Node: "Detected unsettled top-level await")'));
    }
  }, INPUT_DELAY);
}

function checkRead() {
  checkTimer = null;
  const s = pendingRead;
  if (!s || !cell || asked) return;
  const waiting = cell.serving ? waitedFor(s) : null;
  if (waiting !== null && !cell.allowStdin) { endRead(); return; }
  if (waiting !== null) {
    // A question's text is the prompt, as a terminal would show it.
    const prompt = waiting !== s && questionOf(waiting) ? String(waiting.getPrompt()).slice(0, MAX_SOURCE) : '';
    asked = true;
    send({ type: 'input', prompt, password: false });
    return;
  }
  scheduleCheck();
}

function scheduleCheck() {
  // A stream in flowing mode asks for more as soon as it delivered a line: ask the user only if
  // someone still waits a moment later, not when the consumer is about to close or the cell to end.
  if (checkTimer === null && cell) checkTimer = setTimeout(checkRead, INPUT_DELAY);
}

function newStdin() {
  const s = new stream.Readable({
    read() {
      if (pendingRead === s) return;
      pendingRead = s;
      asked = false;
      scheduleCheck();
    },
  });
  s.fd = 0;
  s.isTTY = false;
  s.setRawMode = undefined;
  return s;
}

function answerInput(given, text) {
  const s = pendingRead;
  if (!s || !asked) return;
  if (!given) { endRead(); return; }
  pendingRead = null;
  asked = false;
  if (cell) cell.given += 1;
  s.push(text + '\n');
}

Object.defineProperty(process, 'stdin', {
  configurable: true,
  enumerable: false,
  get() {
    if (userStdin === null || endedStdin.has(userStdin) || userStdin.destroyed) userStdin = newStdin();
    return userStdin;
  },
});

// -- evaluation through the inspector in REPL mode ------------------------------------------
let session = new inspector.Session();
session.connect();

// A cell given up while its evaluation still awaits (interrupted, or awaiting what can never
// settle) leaves the inspector holding that evaluation: when V8 collects the promise it answers
// "promise was collected" from inside the garbage collector, where calling back into
// JavaScript is a fatal error that kills the process. A fresh session drops the old one's
// pending evaluations at once (their callbacks get "context destroyed" now, outside the
// collector); the context, and the cells' bindings, stay.
// That is not only at the end: a pending evaluation whose promise nothing references (`await new
// Promise(() => {})`) is collected by any garbage collection while the cell waits. So the
// promises a cell creates are held while they are pending (async_hooks), until the cell ends
// and its evaluation, if still pending, is abandoned.
const heldPromises = new Map();
const promiseHook = require('async_hooks').createHook({
  init(id, type, trigger, resource) { if (type === 'PROMISE') heldPromises.set(id, resource); },
  promiseResolve(id) { heldPromises.delete(id); },
});
function abandon(pending) {
  pending.catch(() => {});
  session.disconnect();
  session = new inspector.Session();
  session.connect();
}
function post(method, params) {
  return new Promise((resolve, reject) => {
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

let received;
Object.defineProperty(globalThis, RECEIVE, {
  value(value) { received = value; }, enumerable: false, configurable: true, writable: false,
});
Object.defineProperty(globalThis, IMPORT, {
  value: (specifier) => import(specifier), enumerable: false, configurable: true, writable: false,
});

// The live object behind an inspector RemoteObject (a primitive comes by value).
async function live(remote) {
  if (!remote) return undefined;
  // A promise as the cell's value (not awaited, as in Node's REPL): the inspector does not
  // answer calls on it, so it is shown by its description.
  if (remote.subtype === 'promise') return { [util.inspect.custom]: () => `${remote.description} { ... }` };
  if (remote.objectId) {
    received = undefined;
    await post('Runtime.callFunctionOn', {
      objectId: remote.objectId,
      functionDeclaration: `function () { globalThis[Symbol.for('sandbox-kernel.receive')](this); }`,
    });
    post('Runtime.releaseObject', { objectId: remote.objectId }).catch(() => {});
    const value = received;
    received = undefined;
    return value;
  }
  if (remote.type === 'undefined') return undefined;
  if ('unserializableValue' in remote) {
    const u = remote.unserializableValue;
    return u.endsWith('n') ? BigInt(u.slice(0, -1)) : Number(u);
  }
  return remote.value;
}

// Rewrite `import(` outside strings, comments and template text to the hidden import function.
function rewriteImports(code) {
  let out = '';
  let i = 0;
  const n = code.length;
  const templateDepth = [];
  let braces = 0;
  while (i < n) {
    const c = code[i];
    if (c === '/' && code[i + 1] === '/') {
      const end = code.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      out += code.slice(i, stop); i = stop; continue;
    }
    if (c === '/' && code[i + 1] === '*') {
      const end = code.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      out += code.slice(i, stop); i = stop; continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && code[j] !== c && code[j] !== '\n') j += code[j] === '\\' ? 2 : 1;
      out += code.slice(i, j + 1); i = j + 1; continue;
    }
    if (c === '`' || (c === '}' && templateDepth.length && templateDepth[templateDepth.length - 1] === braces)) {
      if (c === '}') templateDepth.pop();
      let j = i + 1;
      while (j < n && code[j] !== '`' && !(code[j] === '$' && code[j + 1] === '{')) j += code[j] === '\\' ? 2 : 1;
      if (j < n && code[j] === '$') { templateDepth.push(braces); out += code.slice(i, j + 2); i = j + 2; continue; }
      out += code.slice(i, j + 1); i = j + 1; continue;
    }
    if (c === '{') braces += 1;
    if (c === '}') braces -= 1;
    const m = /^import\s*\(/.exec(code.slice(i, i + 40));
    if (m && !/[\w$.]/.test(code[i - 1] || '')) {
      out += `globalThis[Symbol.for('sandbox-kernel.import')](`; i += m[0].length; continue;
    }
    out += c; i += 1;
  }
  return out;
}

function isDriverFrame(line) {
  return /^\s+at /.test(line) && /\[eval\]|\(node:|at node:|\(<anonymous>\)$|Session\.post|Socket\.emit|sandbox-kernel/.test(line);
}

class Interrupted extends Error {}

function describe(err) {
  if (err instanceof Interrupted) {
    return { ename: 'KeyboardInterrupt', evalue: 'interrupted', traceback: ['KeyboardInterrupt'] };
  }
  const isError = err instanceof Error || (err && typeof err.stack === 'string');
  const stack = isError && err.stack ? String(err.stack) : 'Uncaught ' + util.inspect(err);
  const lines = stack.split('\n').filter((line) => !isDriverFrame(line));
  return {
    ename: (isError && err.name) || 'Error',
    evalue: isError && err.message !== undefined ? String(err.message) : util.inspect(err),
    traceback: lines,
  };
}

function fail(err) {
  if (cell && cell.failure === null) cell.failure = err;
  else fs.writeSync(2, 'Uncaught ' + (err && err.stack ? err.stack : util.inspect(err)) + '\n');
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

let interruptWaiter = null;
process.on('SIGINT', () => { if (interruptWaiter) interruptWaiter(); });

// Cells run in V8's REPL mode (top-level await, re-declarable let/const/class). The inspector
// evaluates synchronous code inside session.post, so calling it from a script run with
// breakOnSigint makes a busy loop interruptible like vm's own scripts.
const RUN = Symbol.for('sandbox-kernel.run');
let evaluationParams = null;
let evaluation = null;
Object.defineProperty(globalThis, RUN, {
  value() {
    // The promise exists before the evaluation starts, so that an interrupted one is caught.
    let settle;
    evaluation = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    session.post('Runtime.evaluate', evaluationParams,
      (err, result) => (err ? settle.reject(err) : settle.resolve(result)));
  },
  enumerable: false, configurable: true, writable: false,
});
const trampoline = new vm.Script(`globalThis[Symbol.for('sandbox-kernel.run')]()`, { filename: 'sandbox-kernel' });
function evaluate(source) {
  evaluationParams = { expression: source, replMode: true, awaitPromise: true, returnByValue: false };
  try {
    trampoline.runInThisContext({ breakOnSigint: true, displayErrors: false });
  } catch (err) {
    // The inspector answers a terminated evaluation with an error of its own: not the cell's.
    if (evaluation) evaluation.catch(() => {});
    evaluation = null;
    if (err && /interrupted by .?SIGINT/.test(String(err.message))) throw new Interrupted();
    throw err;
  }
  const pending = evaluation;
  evaluation = null;
  return pending;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let count = 0;
async function runCell(code, allowStdin) {
  count += 1;
  cell = { allowStdin, failure: null, given: 0, serving: true, unsettled: null, watchdog: null };
  if (pendingRead) scheduleCheck(); // a read left pending by an earlier cell, for a consumer of this one
  let status = 0; let value = null; let error = null;
  let evaluating = null;
  const source = rewriteImports(code) + `\n//# sourceURL=<cell ${count}>`;
  try {
    const interrupted = new Promise((_, reject) => { interruptWaiter = () => reject(new Interrupted()); });
    const unsettled = new Promise((_, reject) => { cell.unsettled = reject; });
    promiseHook.enable();
    evaluating = evaluate(source);
    const reply = await Promise.race([evaluating, interrupted, unsettled]);
    evaluating = null;
    cell.unsettled = null;
    if (reply.exceptionDetails) throw await live(reply.exceptionDetails.exception);
    const result = await live(reply.result);
    // Callbacks the cell queued (promise reactions, immediates) print under this cell, and
    // what they throw fails it.
    await nextTurn();
    await nextTurn();
    // Code that finished but left a consumer waiting (a callback-style rl.question, a `data`
    // listener) is served as in a Node script: the cell waits while a consumer waits, until it
    // closes or pauses, or gets end of input. An idle interface does not keep it.
    let answered = cell.given;
    while (cell.failure === null) {
      if (!asked && !(pendingRead && waitedFor(pendingRead) !== null)) {
        if (cell.given === answered) break;
        answered = cell.given; // an answer's callbacks may read again: give them a moment
      }
      await Promise.race([pause(INPUT_DELAY), interrupted]);
    }
    cell.serving = false;
    if (cell.failure !== null) throw cell.failure;
    if (result !== undefined) {
      value = util.inspect(result);
      if (value.length > MAX_VALUE) value = value.slice(0, MAX_VALUE) + '...';
    }
  } catch (err) {
    error = describe(err);
    status = error.ename === 'KeyboardInterrupt' ? 130 : 1;
  } finally {
    if (evaluating) abandon(evaluating);
    promiseHook.disable();
    heldPromises.clear();
    interruptWaiter = null;
    if (cell) {
      cell.serving = false;
      cell.unsettled = null;
      if (cell.watchdog) clearInterval(cell.watchdog);
    }
    // A consumer still waiting gets end of input (what the host answers an interrupted or timed
    // out request with); an idle interface stays open for later cells, as in Node's REPL.
    if (pendingRead && (asked || waitedFor(pendingRead) !== null)) endRead();
    // A stream paused (by rl.close()) that no consumer waits on starts over as a fresh
    // process.stdin: a `data` listener added by a later cell starts it again.
    const s = userStdin;
    if (s && s.readableFlowing === false && s.listenerCount('readable') === 0 && dataConsumer(s) === null) {
      s.readableFlowing = null;
    }
    cell = null;
  }
  if (value !== null) {
    send({ type: 'execute_result', data: { 'text/plain': value }, metadata: {}, execution_count: count });
  }
  send({ type: 'flush' }, 2);
  send({ type: 'done', status, error, execution_count: count, peak_memory: peakMemory(), payload: [] });
}

// -- introspection ------------------------------------------------------------------------------
const CHAIN = /((?:[A-Za-z_$][\w$]*\s*\.\s*)*)([A-Za-z_$][\w$]*)?$/;
const KEYWORDS = ['await', 'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger',
  'default', 'delete', 'do', 'else', 'export', 'extends', 'false', 'finally', 'for', 'function',
  'if', 'import', 'in', 'instanceof', 'let', 'new', 'null', 'return', 'static', 'super', 'switch',
  'this', 'throw', 'true', 'try', 'typeof', 'undefined', 'var', 'void', 'while', 'with', 'yield'];

// Evaluate an identifier chain like `a.b.c` without side effects (V8 refuses calls and getters
// that would have any), in REPL mode so that cells' let/const are seen.
async function evaluateChain(chain) {
  if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(chain)) return { ok: false };
  const reply = await post('Runtime.evaluate', {
    expression: chain, replMode: true, throwOnSideEffect: true, silent: true, returnByValue: false,
  });
  if (reply.exceptionDetails) return { ok: false };
  return { ok: true, value: await live(reply.result) };
}

function propertyNames(value) {
  const names = new Set();
  let object = value;
  if (object === null || object === undefined) return names;
  if (typeof object !== 'object' && typeof object !== 'function') object = Object(object);
  for (let depth = 0; object !== null && depth < 50; depth += 1) {
    for (const name of Object.getOwnPropertyNames(object)) names.add(name);
    object = Object.getPrototypeOf(object);
  }
  return names;
}

async function complete(code, cursor) {
  const before = code.slice(0, cursor);
  const match = CHAIN.exec(before);
  const prefix = (match && match[2]) || '';
  const base = match && match[1] ? match[1].replace(/\s/g, '').replace(/\.$/, '') : '';
  let names;
  if (base) {
    const found = await evaluateChain(base);
    names = found.ok ? propertyNames(found.value) : new Set();
  } else {
    names = propertyNames(globalThis);
    const lexical = await post('Runtime.globalLexicalScopeNames', {});
    for (const name of lexical.names) names.add(name);
    for (const word of KEYWORDS) names.add(word);
  }
  const matches = [...names].filter((name) => name.startsWith(prefix) && /^[A-Za-z_$][\w$]*$/.test(name)).sort();
  return { matches, cursor_start: cursor - prefix.length, cursor_end: cursor };
}

async function inspectAt(code, cursor, detail) {
  let end = cursor;
  while (end < code.length && /[\w$]/.test(code[end])) end += 1;
  const match = /[A-Za-z_$][\w$]*(\s*\.\s*[A-Za-z_$][\w$]*)*$/.exec(code.slice(0, end));
  if (!match) return { found: false, data: {} };
  const chain = match[0].replace(/\s/g, '');
  const found = await evaluateChain(chain);
  if (!found.ok) return { found: false, data: {} };
  const value = found.value;
  let text;
  if (typeof value === 'function') {
    let source = Function.prototype.toString.call(value);
    if (!detail) {
      const head = source.split('\n')[0];
      source = head.length < source.length ? head + ' ...' : head;
    }
    if (source.length > MAX_SOURCE) source = source.slice(0, MAX_SOURCE) + '...';
    text = `${chain}: function ${value.name || ''}(${value.length} parameter${value.length === 1 ? '' : 's'})\n${source}`;
  } else {
    text = `${chain}: ${value === null ? 'null' : typeof value}\n${util.inspect(value, { depth: detail ? 2 : 0 }).slice(0, MAX_SOURCE)}`;
  }
  return { found: true, data: { 'text/plain': text } };
}

function compiles(code) {
  try {
    new vm.Script(code, { filename: 'is_complete' });
    return null;
  } catch (err) {
    return err;
  }
}

function isComplete(code) {
  let err = compiles(code);
  if (err && /await|Unexpected reserved word|Unexpected identifier/.test(err.message)) {
    // top-level await: the REPL wraps such code in an async function
    const wrapped = compiles(`(async () => {\n${code}\n})`);
    if (wrapped === null || INCOMPLETE.test(wrapped.message)) err = wrapped;
  }
  if (err === null) return { status: 'complete', indent: '' };
  // an open block comment: Node's REPL goes on to the next line (V8 calls it an invalid token)
  const comment = /Invalid or unexpected token/.test(err.message) ? compiles(`${code}\n*/`) : err;
  if (comment === null || INCOMPLETE.test(comment.message)) {
    const last = code.split('\n').pop();
    const indent = (/^\s*/.exec(last)[0]) + (/[{([]\s*$/.test(last) ? '  ' : '');
    return { status: 'incomplete', indent };
  }
  return { status: 'invalid', indent: '' };
}

async function introspect(verb, payload) {
  let request;
  try { request = JSON.parse(payload); } catch (e) { request = {}; }
  const code = typeof request.code === 'string' ? request.code : '';
  const cursor = Number.isInteger(request.cursor_pos) ? Math.max(0, Math.min(request.cursor_pos, code.length)) : code.length;
  try {
    if (verb === 'complete') return send({ type: 'complete', ...(await complete(code, cursor)) });
    if (verb === 'inspect') return send({ type: 'inspect', ...(await inspectAt(code, cursor, request.detail_level === 1)) });
    if (verb === 'is_complete') return send({ type: 'is_complete', ...isComplete(code) });
  } catch (err) {
    if (verb === 'complete') send({ type: 'complete', matches: [], cursor_start: cursor, cursor_end: cursor });
    else if (verb === 'inspect') send({ type: 'inspect', found: false, data: {} });
    else send({ type: 'is_complete', status: 'unknown', indent: '' });
  }
  return undefined;
}

// -- the request loop -----------------------------------------------------------------------
let buffer = Buffer.alloc(0);
let busy = false;
function takeRequest() {
  const nl = buffer.indexOf(10);
  if (nl < 0) return null;
  const [verb, requestNonce, size, arg] = buffer.subarray(0, nl).toString().split(' ');
  const n = Number(size);
  if (buffer.length < nl + 1 + n) return null;
  const raw = buffer.subarray(nl + 1, nl + 1 + n);
  buffer = buffer.subarray(nl + 1 + n);
  return { verb, nonce: requestNonce, arg, raw, payload: raw.toString('utf8') };
}

async function pump() {
  // `input` answers arrive while a cell runs, so they are handled here at once.
  for (;;) {
    const nl = buffer.indexOf(10);
    if (nl < 0 || !buffer.subarray(0, nl).toString().startsWith('input ')) break;
    const request = takeRequest();
    if (request === null) break;
    answerInput(request.arg === '1', request.payload);
  }
  if (busy) return;
  busy = true;
  try {
    for (;;) {
      const request = takeRequest();
      if (request === null) break;
      if (request.verb === 'input') { answerInput(request.arg === '1', request.payload); continue; }
      nonce = request.nonce;
      if (request.verb === 'run') {
        send({ type: 'ack', size: request.raw.length, sha256: crypto.createHash('sha256').update(request.raw).digest('hex') });
        await runCell(request.payload, request.arg === '1');
      } else await introspect(request.verb, request.payload);
    }
  } finally {
    busy = false;
  }
}

// The control channel's reader: a worker thread, so that at end of file (the host is gone) the
// driver exits even while a cell keeps the main thread busy. It reads a close-on-exec,
// non-blocking copy of descriptor 3 and sleeps between polls: a worker blocked in read(2) could
// not be stopped, and process.exit() would wait for it forever.
const control = new Worker(`
  const fs = require('fs');
  const { parentPort } = require('worker_threads');
  let fd = ${CONTROL_FD};
  try {
    fd = fs.openSync('/proc/self/fd/${CONTROL_FD}', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(${CONTROL_FD});
  } catch (e) { /* keep reading descriptor 3, blocking */ }
  const chunk = Buffer.alloc(65536);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n = 0;
    try {
      n = fs.readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      // EINTR: a signal for the cell (SIGINT) landed on this thread.
      if (e.code === 'EAGAIN' || e.code === 'EINTR') { Atomics.wait(pause, 0, 0, 5); continue; }
    }
    if (n <= 0) { process.kill(process.pid, 'SIGKILL'); break; }
    parentPort.postMessage(Buffer.from(chunk.subarray(0, n)));
  }
`, { eval: true });
control.on('message', (chunk) => { buffer = Buffer.concat([buffer, Buffer.from(chunk)]); pump(); });
ownResources = process.getActiveResourcesInfo();
send({ type: 'ready', pid: process.pid, version: process.version });
}
