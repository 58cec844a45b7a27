/**
 * Where a device keeps its serialised E2E state (`E2EDevice.exportState()`). The state holds
 * private keys: implementations must keep it away from other users and never send it anywhere.
 */
export interface KeyStore {
  load(): Promise<string | null>;
  save(state: string): Promise<void>;
  clear(): Promise<void>;
}

/** For tests and throwaway sessions: the keys die with the process. */
export class MemoryKeyStore implements KeyStore {
  private state: string | null = null;

  async load(): Promise<string | null> {
    return this.state;
  }

  async save(state: string): Promise<void> {
    this.state = state;
  }

  async clear(): Promise<void> {
    this.state = null;
  }
}
