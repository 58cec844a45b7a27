/**
 * Open sockets, counted at the HTTP upgrade (before a socket costs anything but its file
 * descriptor): at most `perNetwork` per network, `perNetwork * 4^level` for the wider IPv6
 * levels (/56, /48), and `overall` in all. A socket holds its places until it closes.
 */
export class SocketBudget {
  readonly #open = new Map<string, number>();
  #total = 0;

  constructor(
    private readonly limits: { overall: number; perNetwork: number },
  ) {}

  get size(): number {
    return this.#total;
  }

  /** Takes a place for a socket from these networks (narrowest first); false when any is full. */
  take(networkKeys: readonly string[]): boolean {
    if (this.#total >= this.limits.overall) return false;
    if (networkKeys.some((key, level) => (this.#open.get(key) ?? 0) >= this.limits.perNetwork * 4 ** level)) return false;
    this.#total++;
    for (const key of networkKeys) this.#open.set(key, (this.#open.get(key) ?? 0) + 1);
    return true;
  }

  release(networkKeys: readonly string[]): void {
    this.#total--;
    for (const key of networkKeys) {
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    }
  }
}
