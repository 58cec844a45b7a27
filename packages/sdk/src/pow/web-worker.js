// The Web Worker that solves a registration challenge in a browser, off the main thread.
import { solveLoop } from './solve-loop.js';

self.onmessage = ({ data }) => {
  solveLoop(data.challenge, (attempts) => self.postMessage({ attempts })).then(
    (solution) => self.postMessage({ solution }),
    (err) => self.postMessage({ error: String(err?.message ?? err) }),
  );
};
