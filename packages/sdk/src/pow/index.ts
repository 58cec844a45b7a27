export { solvePow, type PowProgress, type SolveOptions } from './solve.js';
