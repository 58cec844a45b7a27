// The worker thread that solves a registration challenge in Node, off the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { solveLoop } from './solve-loop.js';

solveLoop(workerData.challenge, (attempts) => parentPort.postMessage({ attempts })).then(
  (solution) => parentPort.postMessage({ solution }),
  (err) => parentPort.postMessage({ error: String(err?.message ?? err) }),
);
