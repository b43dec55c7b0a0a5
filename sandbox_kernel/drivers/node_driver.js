// sandbox-kernel session driver for Node.js, run as: node -e SOURCE NONCE 3<&0 </dev/null. Cells run
// in the main context, so globals persist; `require` works relative to the working directory. The
// protocol (requests on the control channel, descriptor 3; frames on stdout and stderr) is
// drivers/PROTOCOL.md, version 2.
'use strict';
// One block: the driver's own names stay out of the global scope that cells share.
{
const vm = require('vm');
const fs = require('fs');
const util = require('util');
const crypto = require('crypto');
const { Worker } = require('worker_threads');

let nonce = process.argv[process.argv.length - 1];
const CONTROL_FD = 3;
const MAX_VALUE = 1024 * 1024;
const CGROUP_PEAK = ['/sys/fs/cgroup/memory/memory.max_usage_in_bytes', '/sys/fs/cgroup/memory.peak'];
globalThis.require = require;
process.argv = process.argv.slice(0, 1);

// One frame: RS US NONCE US SIZE US JSON LF, written whole (retrying short writes).
function send(message, fd = 1) {
  const body = Buffer.from(JSON.stringify(message));
  let data = Buffer.concat([Buffer.from(`\x1e\x1f${nonce}\x1f${body.length}\x1f`), body,
    Buffer.from('\n')]);
  while (data.length) data = data.subarray(fs.writeSync(fd, data));
}

function peakMemory() {
  for (const path of CGROUP_PEAK) {
    try { return Number(fs.readFileSync(path, 'utf8').trim()); } catch (e) { /* next */ }
  }
  return null;
}

let interruptWaiter = null;
process.on('SIGINT', () => { if (interruptWaiter) interruptWaiter(); });
process.on('uncaughtException', (err) => {
  fs.writeSync(2, 'Uncaught ' + (err && err.stack ? err.stack : String(err)) + '\n');
});
process.on('unhandledRejection', (err) => {
  fs.writeSync(2, 'Unhandled rejection: ' + (err && err.stack ? err.stack : String(err)) + '\n');
});

class Interrupted extends Error {}

function describe(err) {
  if (err instanceof Interrupted || (err && /interrupted by .?SIGINT/.test(String(err.message)))) {
    return { ename: 'KeyboardInterrupt', evalue: 'interrupted', traceback: ['KeyboardInterrupt'] };
  }
  const stack = err && err.stack ? String(err.stack) : String(err);
  const lines = stack.split('\n').filter((line) => !/^\s+at /.test(line) || /<cell \d+>/.test(line));
  return {
    ename: (err && err.name) || 'Error',
    evalue: err && err.message !== undefined ? String(err.message) : String(err),
    traceback: lines,
  };
}

let count = 0;
async function runCell(code) {
  count += 1;
  let status = 0; let value = null; let error = null;
  try {
    const script = new vm.Script(code, { filename: `<cell ${count}>` });
    let result = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
    if (result && typeof result.then === 'function') {
      result = await Promise.race([
        result,
        new Promise((_, reject) => { interruptWaiter = () => reject(new Interrupted()); }),
      ]);
    }
    if (result !== undefined) {
      value = util.inspect(result);
      if (value.length > MAX_VALUE) value = value.slice(0, MAX_VALUE) + '...';
    }
  } catch (err) {
    error = describe(err);
    status = error.ename === 'KeyboardInterrupt' ? 130 : 1;
  } finally {
    interruptWaiter = null;
  }
  if (value !== null) {
    send({ type: 'execute_result', data: { 'text/plain': value }, metadata: {}, execution_count: count });
  }
  send({ type: 'flush' }, 2);
  send({ type: 'done', status, error, execution_count: count, peak_memory: peakMemory(), payload: [] });
}

let buffer = Buffer.alloc(0);
let busy = false;
async function pump() {
  if (busy) return;
  busy = true;
  try {
    for (;;) {
      const nl = buffer.indexOf(10);
      if (nl < 0) break;
      const [verb, requestNonce, size] = buffer.subarray(0, nl).toString().split(' ');
      const n = Number(size);
      if (buffer.length < nl + 1 + n) break;
      const raw = buffer.subarray(nl + 1, nl + 1 + n);
      const payload = raw.toString('utf8');
      buffer = buffer.subarray(nl + 1 + n);
      nonce = requestNonce;
      if (verb === 'run') {
        send({ type: 'ack', size: raw.length, sha256: crypto.createHash('sha256').update(raw).digest('hex') });
        await runCell(payload);
      } else if (verb === 'complete') send({ type: 'complete', matches: [], cursor_start: 0, cursor_end: 0 });
      else if (verb === 'inspect') send({ type: 'inspect', found: false, data: {}, metadata: {} });
      else if (verb === 'is_complete') send({ type: 'is_complete', status: 'unknown', indent: '' });
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
      if (e.code === 'EAGAIN') { Atomics.wait(pause, 0, 0, 5); continue; }
    }
    if (n <= 0) { process.kill(process.pid, 'SIGKILL'); break; }
    parentPort.postMessage(Buffer.from(chunk.subarray(0, n)));
  }
`, { eval: true });
control.on('message', (chunk) => { buffer = Buffer.concat([buffer, Buffer.from(chunk)]); pump(); });
send({ type: 'ready', pid: process.pid, version: process.version });
}
