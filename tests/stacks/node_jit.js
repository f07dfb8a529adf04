// node_jit.js SIZE COUNT FILL: a JavaScript function made after memtrace
// attached allocates native memory, after FILL other new functions have
// filled the code pages V8 had at attach.  Run by test_node.py under
// `node --perf-basic-prof --interpreted-frames-native-stack`: V8 gives the
// new function machine code of its own in anonymous executable memory
// and names it in /tmp/perf-PID.map.
//
// Protocol (tests/e2e/harness.py): "ready PID", wait for "go"; then FILL
// functions are made and called once each (their code takes new pages),
// then the function memtrace_jit_leaker_PID is compiled (new Function) and called
// once: COUNT Buffer.allocUnsafeSlow(SIZE), each one malloc(SIZE) in
// node's ArrayBuffer allocator, all kept; "info jit_function=NAME
// blocks=COUNT bytes=COUNT*SIZE", "done checksum=0", wait for "exit".
'use strict';
const readline = require('readline');

const size = Number(process.argv[2]);
const count = Number(process.argv[3]);
const fill = Number(process.argv[4]);
const held = [];
const name = `memtrace_jit_leaker_${process.pid}`;

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line === 'go') {
    let sum = 0;
    for (let i = 0; i < fill; i++)
      sum += new Function('x', `return x + ${i};`)(i);
    const make = new Function('B', 'held', 'size', `
      return function ${name}(n) {
        for (let i = 0; i < n; i++)
          held.push(B.allocUnsafeSlow(size));
      };`);
    make(Buffer, held, size)(count);
    console.log(`info jit_function=${name} blocks=${count} bytes=${count * size}`);
    console.log(`done checksum=${sum.toString(16)}`);
  } else if (line === 'exit') {
    rl.close();
    process.exit(0);
  }
});
console.log(`ready ${process.pid}`);
