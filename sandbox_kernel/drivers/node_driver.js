// sandbox-kernel session driver for Node.js, run as: node -e SOURCE TOKEN. Cells run in the main
// context, so globals persist; `require` works relative to the working directory. Protocol as in
// python_driver.py: requests "VERB ID NBYTES [ARG]\n" + payload on stdin, replies TOKEN + JSON.
'use strict';
// One block: the driver's own names stay out of the global scope that cells share.
{
const vm = require('vm');
const fs = require('fs');
const util = require('util');

const TOKEN = '\x1e\x1f' + process.argv[process.argv.length - 1] + '\x1f';
const MAX_VALUE = 1024 * 1024;
const CGROUP_PEAK = ['/sys/fs/cgroup/memory/memory.max_usage_in_bytes', '/sys/fs/cgroup/memory.peak'];
globalThis.require = require;
process.argv = process.argv.slice(0, 1);

function send(message, fd = 1) {
  fs.writeSync(fd, TOKEN + JSON.stringify(message) + '\n');
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
async function runCell(id, code) {
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
  send({ type: 'flush', id }, 2);
  send({ type: 'done', id, status, value, error, peak_memory: peakMemory() });
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
      const [verb, id, size] = buffer.subarray(0, nl).toString().split(' ');
      const n = Number(size);
      if (buffer.length < nl + 1 + n) break;
      const payload = buffer.subarray(nl + 1, nl + 1 + n).toString('utf8');
      buffer = buffer.subarray(nl + 1 + n);
      if (verb === 'run') await runCell(id, payload);
      else if (verb === 'complete') send({ type: 'complete', id, matches: [], cursor_start: 0, cursor_end: 0 });
    }
  } finally {
    busy = false;
  }
}

process.stdin.on('data', (chunk) => { buffer = Buffer.concat([buffer, chunk]); pump(); });
process.stdin.on('end', () => process.exit(0));
send({ type: 'ready', pid: process.pid });
}
