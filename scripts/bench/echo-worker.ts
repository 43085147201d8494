// For scripts/micro-bench.ts: answers each string message with a transferred 120-byte buffer,
// as a reader answers a point query, and does nothing else.

declare const self: Worker;

self.onmessage = () => {
  const reply = new ArrayBuffer(120);
  self.postMessage(reply, [reply]);
};
