"use strict";
// PostGraphile 5 calls Promise.withResolvers (ES2024), which Node 22 has and Node 20 lacks.
// Loaded before anything else with NODE_OPTIONS="--require <absolute path>/polyfill.cjs";
// on a Node that has it, this file does nothing.
if (typeof Promise.withResolvers !== "function") {
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers() {
      let resolve;
      let reject;
      const promise = new this((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
