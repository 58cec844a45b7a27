/** Percentile of samples (nearest rank); sorts a copy. */
export function percentiles(samples: ArrayLike<number>, ps: number[]): number[] {
  const sorted = Float64Array.from(samples).sort();
  return ps.map((p) => {
    if (sorted.length === 0) return NaN;
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank]!;
  });
}

/** A growable Float64 sample buffer: latency samples without boxing a number per sample. */
export class Samples {
  #data = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.length++] = value;
  }

  values(): Float64Array {
    return this.#data.subarray(0, this.length);
  }

  clear(): void {
    this.length = 0;
  }
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

/** "1.23x" */
export const ratio = (a: number, b: number) => {
  const r = a / b;
  if (!Number.isFinite(r) || b === 0) return 'n/a';
  return `${r >= 100 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`;
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
