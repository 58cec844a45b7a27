import { closeSync, fstatSync, fsync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { ChatId, UserHash } from '@omechat/protocol';
import { systemClock, type Clock } from '../../../ports/clock.js';
import type { ChatRecord, NewEvent, StoredEvent } from '../../../ports/storage.js';
import { migrate } from './migrations.js';

export interface SqliteStorageOptions {
  /** A file path, or ':memory:' for a throwaway database. */
  file: string;
  /** Stamps `createdAt` on events. */
  clock?: Clock;
  /**
   * Told when an fsync of the WAL fails. Nothing written after it can be acknowledged, so
   * the default throws (the process stops) rather than leave every later write hanging.
   */
  onFatal?: (error: Error) => void;
  /**
   * Resolve writes once committed, without waiting for the WAL's fsync (OMECHAT_SQLITE_ACK=
   * before-fsync): a power cut or kernel crash can then lose acknowledged writes.
   */
  ackBeforeFsync?: boolean;
  /** Told when a background checkpoint fails; the next one tries again. */
  onCheckpointError?: (error: Error) => void;
  /**
   * Once the WAL passes this many bytes, a checkpoint folds it into the database file and
   * restarts it (see #checkpoint). Default 64 MiB: each checkpoint holds commits for about three
   * fsyncs, so a larger WAL means fewer holds; its high-water mark stays under ~2x this.
   */
  walCheckpointBytes?: number;
  /** How often counters are written back (COUNTERS_SAVE_MS); tests raise it to act out a crash. */
  countersSaveMs?: number;
}

/** What the WAL and its checkpoints have done since the storage opened (see figures()). */
export type SqliteFigures = {
  /** Bytes of WAL in use now (header and frames since it last restarted). */
  sqlite_wal_bytes: number;
  /** The most bytes of WAL in use at once (measured after every commit). */
  sqlite_wal_high_water_bytes: number;
  /** The WAL file's length: it keeps the longest the WAL has been, and is reused from its start. */
  sqlite_wal_file_bytes: number;
  /** Checkpoints that emptied the WAL. */
  sqlite_checkpoints: number;
  /** Checkpoints a reader kept from emptying the WAL (tried again later). */
  sqlite_checkpoints_busy: number;
  /** Seconds new commits waited while a checkpoint finished. */
  sqlite_checkpoint_hold_seconds: number;
};

/** How often a WAL that has not reached its size limit is checkpointed anyway (an idle server). */
const CHECKPOINT_INTERVAL_MS = 2_000;
const WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Counters kept in memory before they are dropped and read again as needed. */
const COUNTERS_KEPT = 100_000;
/**
 * How often the counters a message moves (its chat's last seq, both members' stream heads)
 * are written back. Written with every commit they were 3 of the ~7 pages a message wrote to
 * the WAL (bench/wal-pages.ts); the messages themselves say where they stand, so a counter
 * behind its file after a crash is caught up when read (chatCounters, head).
 */
const COUNTERS_SAVE_MS = 1_000;
/** From checkpointer.mjs. */
type CheckpointerMessage =
  | { step: 'copied'; error?: string }
  | { step: 'completed'; busy: number; ms: number; error?: string }
  | { step: 'closing'; error: string };
interface ChatCounters {
  state: ChatRecord['state'];
  lastSeq: number;
  lastActivityAt: number;
  userA: UserHash;
  userB: UserHash;
}

/** The statements of the write path's own counters (see `counters` below) and of append. */
function prepareCounterStatements(db: Database.Database) {
  return {
    recordMessageInChat: db.prepare<[number, number, ChatId]>(
      `UPDATE chats SET last_seq = ?, last_activity_at = MAX(last_activity_at, ?)
       WHERE chat_id = ?`,
    ),
    chatCounters: db.prepare<[ChatId], ChatCounters>(
      `SELECT state, last_seq AS lastSeq, last_activity_at AS lastActivityAt, user_a AS userA, user_b AS userB
       FROM chats WHERE chat_id = ?`,
    ),
    // A chat's newest message: where its counters stand after a crash, and (by its stream ids,
    // a and b) whether a stream has anything of the chat after a cursor (streams.ts).
    lastMessage: db.prepare<[ChatId], { seq: number; sentAt: number; a: number; b: number }>(
      'SELECT seq, sent_at AS sentAt, event_id_a AS a, event_id_b AS b FROM messages WHERE chat_id = ? ORDER BY seq DESC LIMIT 1',
    ),
    // The newest id in the user's stream, from the events and messages still stored (a chat's
    // newest message holds its highest stream ids: they grow with seq).
    streamTop: db
      .prepare<{ userHash: UserHash }, number | null>(
        `SELECT max(top) FROM (
           SELECT max(id) AS top FROM stream_events WHERE user_hash = @userHash
           UNION ALL SELECT (SELECT event_id_a FROM messages m WHERE m.chat_id = c.chat_id ORDER BY seq DESC LIMIT 1) FROM chats c WHERE c.user_a = @userHash
           UNION ALL SELECT (SELECT event_id_b FROM messages m WHERE m.chat_id = c.chat_id ORDER BY seq DESC LIMIT 1) FROM chats c WHERE c.user_b = @userHash)`,
      )
      .pluck(),
    // The user's stream row outlives purged events, so an id is never handed out twice.
    saveStreamHead: db.prepare<[UserHash, number]>(
      `INSERT INTO streams (user_hash, last_event_id) VALUES (?, ?)
       ON CONFLICT (user_hash) DO UPDATE SET last_event_id = excluded.last_event_id`,
    ),
    streamHead: db.prepare<[UserHash], number>('SELECT last_event_id FROM streams WHERE user_hash = ?').pluck(),
    insertEvent: db.prepare<[UserHash, number, string, string, number]>(
      'INSERT INTO stream_events (user_hash, id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
  };
}

/** One concern's statements on this connection: `sql()` to read (throws once closed), `write` to change. */
export interface Tables<S> {
  sql: () => S;
  write: <R>(fn: (sql: S) => R) => Promise<R>;
}

/**
 * The one connection to the SQLite file that every store of SqliteStorage shares, and its
 * write path: group commit, the WAL's fsync off the event loop, checkpoints in a worker
 * thread, the counters, and close. better-sqlite3 is synchronous, so by the time a write's
 * function has run its transaction has committed.
 */
export class SqliteConnection {
  readonly db: Database.Database;
  readonly #clock: Clock;
  readonly counters: ReturnType<typeof prepareCounterStatements>;
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #pending: { run: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] = [];
  /** The WAL, open for fstat (its size) and, unless acks come before the fsync, for fsync. */
  readonly #walFd: number | null = null;
  readonly #shmFd: number | null = null;
  readonly #mxFrame = new Uint32Array(1);
  readonly #pageSize: number;
  readonly #fsyncBeforeAck: boolean = false;
  #checkpointer: Worker | null = null;
  readonly #walCheckpointBytes: number;
  readonly #onCheckpointError: (error: Error) => void;
  /** idle -> copying (commits go on) -> holding (commits wait) -> idle; see #checkpoint. */
  #checkpointStep: 'idle' | 'copying' | 'holding' = 'idle';
  #holdStartedAt = 0;
  #checkpointTimer: NodeJS.Timeout | undefined;
  readonly #checkpointIdle: (() => void)[] = [];
  readonly #figures: SqliteFigures = {
    sqlite_wal_bytes: 0,
    sqlite_wal_high_water_bytes: 0,
    sqlite_wal_file_bytes: 0,
    sqlite_checkpoints: 0,
    sqlite_checkpoints_busy: 0,
    sqlite_checkpoint_hold_seconds: 0,
  };
  #closing: Promise<void> | undefined;
  #closeStarted = false;
  /** Cached counters of chats (a chat's store sets and reads them inside its writes). */
  readonly chats = new Map<ChatId, ChatCounters>();
  readonly #heads = new Map<UserHash, number>();
  /** Chats whose last seq moved since the counters were last written back. */
  readonly dirtyChats = new Set<ChatId>();
  #countersSavedAt = 0;
  readonly #countersSaveMs: number;
  readonly #dirtyHeads = new Set<UserHash>();
  readonly #syncWaiters: (() => void)[] = [];
  #syncing = false;
  readonly #onFatal: (error: Error) => void;

  constructor({
    file,
    clock = systemClock,
    onFatal = (error) => {
      throw error;
    },
    onCheckpointError = () => undefined,
    ackBeforeFsync = false,
    walCheckpointBytes = WAL_CHECKPOINT_BYTES,
    countersSaveMs = COUNTERS_SAVE_MS,
  }: SqliteStorageOptions) {
    this.#clock = clock;
    this.#countersSaveMs = countersSaveMs;
    this.#walCheckpointBytes = walCheckpointBytes;
    this.#onCheckpointError = onCheckpointError;
    const db = (this.db = new Database(file));
    db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL only fsyncs at checkpoints; write fsyncs the WAL itself after each
    // commit, off the event loop, before any write of that commit resolves (see write).
    db.pragma('synchronous = NORMAL');
    // Checkpoints run in a worker thread (checkpointer.mjs), not inside a commit here.
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('foreign_keys = ON');
    // Another process (a CLI admin command, a backup) may hold the write lock briefly.
    db.pragma('busy_timeout = 5000');
    migrate(db);
    this.#pageSize = Number(db.pragma('page_size', { simple: true }));
    this.counters = prepareCounterStatements(db);
    this.#transaction = db.transaction((fn: () => unknown) => fn());
    this.#onFatal = onFatal;
    if (file !== ':memory:' && file !== '') {
      // The WAL exists once journal_mode=WAL is set and stays while a connection is open.
      // Without the fsync through it, the checkpointer's fsyncs are the only ones.
      this.#walFd = openSync(`${file}-wal`, 'r');
      this.#shmFd = openSync(`${file}-shm`, 'r');
      this.#fsyncBeforeAck = !ackBeforeFsync;
      // The first commit into an empty WAL fsyncs its header on the committing thread: let
      // that be now, while starting, rather than on the event loop of a running server.
      if (this.#measureWal() === 0) db.pragma(`user_version = ${Number(db.pragma('user_version', { simple: true }))}`);
      const checkpointer = (this.#checkpointer = new Worker(new URL('./checkpointer.mjs', import.meta.url), {
        workerData: { file, walCheckpointBytes },
      }));
      checkpointer.unref();
      checkpointer.on('message', (m: CheckpointerMessage) => this.#onCheckpointerMessage(m));
      checkpointer.on('error', (error) => this.#checkpointerLost(error));
      checkpointer.on('exit', () => this.#checkpointerLost(new Error('the SQLite checkpointer thread exited')));
      this.#checkpointTimer = setInterval(() => {
        // An idle server's WAL is folded in too; one that holds only the frame a checkpoint
        // leaves (see checkpointer.mjs) needs nothing.
        if (this.#measureWal() > 32 + 2 * (24 + 65536)) this.#checkpoint();
      }, CHECKPOINT_INTERVAL_MS);
      this.#checkpointTimer.unref();
    }
  }

  /** Throws once the connection is closed. */
  read(): void {
    if (!this.db.open) throw new Error('SqliteStorage is closed');
  }

  tables<S>(statements: S): Tables<S> {
    return {
      sql: () => (this.read(), statements),
      write: (fn) => this.write(() => fn(statements)),
    };
  }

  /** Inside a write, after deleteUser's DELETEs: drops the counters of the user's stream and of the chats that went. */
  forgetUser(userHash: UserHash): void {
    this.#heads.delete(userHash);
    this.#dirtyHeads.delete(userHash);
    // The peers keep the other chats, counters and all.
    for (const [chatId, chat] of this.chats) {
      if ((chat.userA !== userHash && chat.userB !== userHash) || this.counters.chatCounters.get(chatId)) continue;
      this.chats.delete(chatId);
      this.dirtyChats.delete(chatId);
    }
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    if (!this.db.open) return;
    this.#closeStarted = true;
    clearInterval(this.#checkpointTimer);
    // A checkpoint under way finishes first: while it holds commits, #flush commits nothing.
    if (this.#checkpointStep !== 'idle') await new Promise<void>((resolve) => this.#checkpointIdle.push(resolve));
    // Writes already accepted are committed before the file closes, and acknowledged once on
    // disk, before the descriptor they sync through goes away. The fsync that ends may start
    // another (for writes that queued while it ran), so wait until none runs.
    void this.write(() => this.saveCounters());
    do {
      this.#flush();
      await new Promise<void>((resolve) => this.#afterSync(resolve));
    } while (this.#syncing || this.#pending.length > 0);
    if (!this.db.open) return;
    // Not the last connection (the checkpointer's are open), so closing does not checkpoint
    // on this thread...
    this.db.close();
    if (this.#walFd !== null) closeSync(this.#walFd);
    if (this.#shmFd !== null) closeSync(this.#shmFd);
    const checkpointer = this.#checkpointer;
    if (checkpointer) {
      // ...the checkpointer's last one does, and deletes the WAL (see checkpointer.mjs).
      this.#checkpointer = null;
      checkpointer.ref(); // keeps the process alive until the thread has closed its connections
      const exited = new Promise((resolve) => checkpointer.once('exit', resolve));
      checkpointer.postMessage('close');
      await exited;
    }
  }

  /** The WAL's size and how it has been checkpointed, for /metrics and benchmarks. */
  figures(): SqliteFigures {
    if (this.db.open) {
      this.#measureWal();
      if (this.#walFd !== null) this.#figures.sqlite_wal_file_bytes = fstatSync(this.#walFd).size;
    }
    return { ...this.#figures };
  }

  /**
   * The bytes of WAL in use now, and their high-water mark. A restarted WAL is written from
   * its start again and its file keeps its length, so the count of frames comes from the
   * wal-index header (mxFrame, a u32 at byte 16 of the -shm file, in this machine's byte
   * order): one 4-byte pread per commit.
   */
  #measureWal(): number {
    if (this.#shmFd === null) return 0;
    const frames = readSync(this.#shmFd, this.#mxFrame, 0, 4, 16) === 4 ? this.#mxFrame[0]! : 0;
    const bytes = frames === 0 ? 0 : 32 + frames * (this.#pageSize + 24);
    this.#figures.sqlite_wal_bytes = bytes;
    if (bytes > this.#figures.sqlite_wal_high_water_bytes) this.#figures.sqlite_wal_high_water_bytes = bytes;
    return bytes;
  }

  /**
   * Folds the WAL into the database file and empties it, in two steps run by the
   * checkpointer thread (checkpointer.mjs): it copies what is there while commits go
   * on, then commits wait while it copies what arrived meanwhile and starts a new WAL. A
   * checkpoint that never holds commits never catches up under steady load, and the WAL
   * then grows without bound (1.5 GB in 14 s at 500 pairs).
   */
  #checkpoint(): void {
    if (this.#checkpointStep !== 'idle' || !this.#checkpointer || this.#closeStarted) return;
    this.#checkpointStep = 'copying';
    this.#checkpointer.postMessage('copy');
  }

  #onCheckpointerMessage(message: CheckpointerMessage): void {
    if (message.error !== undefined) this.#onCheckpointError(new Error(message.error));
    if (message.step === 'copied' && this.#checkpointStep === 'copying') {
      // No commit is under way (they run synchronously on this thread): from here until
      // 'completed', #flush leaves writes queued.
      this.#checkpointStep = 'holding';
      this.#holdStartedAt = performance.now();
      this.#checkpointer?.postMessage('complete');
    } else if (message.step === 'completed' && this.#checkpointStep === 'holding') {
      if (message.busy === 0) this.#figures.sqlite_checkpoints++;
      else this.#figures.sqlite_checkpoints_busy++;
      this.#release();
    }
  }

  /** Ends a hold: commits what queued meanwhile (or lets the fsync under way do it). */
  #release(): void {
    if (this.#checkpointStep === 'holding') {
      this.#figures.sqlite_checkpoint_hold_seconds += (performance.now() - this.#holdStartedAt) / 1000;
    }
    this.#checkpointStep = 'idle';
    if (this.db.open) this.#measureWal();
    for (const resume of this.#checkpointIdle.splice(0)) resume();
    if (this.#pending.length > 0 && !this.#syncing) this.#flush();
  }

  /** The thread failed: checkpoints stop (the WAL then grows), but writes must not wait forever. */
  #checkpointerLost(error: Error): void {
    if (!this.#checkpointer) return; // closed on purpose
    this.#checkpointer = null;
    clearInterval(this.#checkpointTimer);
    this.#onCheckpointError(error);
    this.#release();
  }

  /**
   * Group commit. Queued writes run in one transaction; the commit itself does not fsync
   * (synchronous=NORMAL), and the batch's promises resolve only once an fsync of the WAL that
   * started after the commit has finished. So "resolved means durable" holds as with
   * synchronous=FULL (the committed WAL frames are on disk before anyone is told), but the
   * fsync runs on libuv's thread pool and the event loop never waits for it. While an fsync
   * runs, writes queue up and are committed together when it ends: they would have waited
   * for the next fsync anyway, and one commit of many writes costs far less than many.
   * IMMEDIATE takes the write lock up front, so a writer in another process waits on
   * busy_timeout instead of failing with SQLITE_BUSY.
   */
  write<R>(fn: () => R): Promise<R> {
    this.read();
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ run: fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.#pending.length === 1 && !this.#syncing) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    if (this.#checkpointStep === 'holding') return; // #release commits them
    const batch = this.#pending.splice(0);
    if (batch.length === 0 || !this.db.open) return;
    let outcomes: { ok: boolean; value: unknown }[];
    const now = performance.now();
    const forget = this.chats.size + this.#heads.size > COUNTERS_KEPT;
    const saveCounters = forget || now - this.#countersSavedAt >= this.#countersSaveMs;
    try {
      // The common case: every write succeeds, and none pays for a savepoint of its own.
      outcomes = this.#transaction.immediate(() => {
        const done = batch.map((write) => ({ ok: true, value: write.run() }));
        if (saveCounters) this.saveCounters();
        return done;
      }) as typeof outcomes;
      if (saveCounters) this.#countersSavedAt = now;
      if (forget) this.#forgetCounters();
    } catch {
      this.#forgetCounters();
      // Some write threw and the batch rolled back: run each again on its own, so one bad
      // write fails alone. Writes only read and change the database, so running one again
      // after a rollback is the same as running it once.
      outcomes = batch.map((write) => {
        try {
          return {
            ok: true,
            value: this.#transaction.immediate(() => {
              const value = write.run();
              this.saveCounters();
              return value;
            }),
          };
        } catch (error) {
          this.#forgetCounters();
          return { ok: false, value: error };
        }
      });
    }
    // The WAL only grows at a commit, so measuring after each one finds its high-water mark.
    if (this.#measureWal() >= this.#walCheckpointBytes) this.#checkpoint();
    this.#afterSync(() =>
      batch.forEach((write, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) write.resolve(outcome.value);
        else write.reject(outcome.value);
      }),
    );
  }

  /** Runs `done` once everything committed so far is on disk. */
  #afterSync(done: () => void): void {
    if (!this.#fsyncBeforeAck) return done(); // in memory, or acknowledged before the fsync
    this.#syncWaiters.push(done);
    if (!this.#syncing) this.#sync();
  }

  #sync(): void {
    const waiters = this.#syncWaiters.splice(0);
    this.#syncing = true;
    fsync(this.#walFd!, (error) => {
      this.#syncing = false;
      // An fsync that fails leaves the page cache state unknown (the kernel may have dropped
      // the dirty pages): nothing after it can be promised durable, so stop here.
      if (error) {
        this.#onFatal(error);
        return;
      }
      for (const done of waiters) done();
      if (this.#pending.length > 0) this.#flush(); // commits what queued meanwhile, and syncs it
      else if (this.#syncWaiters.length > 0) this.#sync();
    });
  }

  /** Only inside write: the events of one call are stored together or not at all. */
  append(events: readonly NewEvent[]): StoredEvent[] {
    const createdAt = this.#clock.now();
    const { insertEvent } = this.counters;
    return events.map(({ userHash, type, payload }) => {
      const id = this.head(userHash) + 1;
      insertEvent.run(userHash, id, type, payload, createdAt);
      this.setHead(userHash, id);
      return { id, userHash, type, payload, createdAt };
    });
  }

  // --- counters -----------------------------------------------------------------
  // One server process writes an SQLite file, so the counters it keeps (a chat's last seq, a
  // stream's head) are the truth: read from the file on first use, caught up there with the
  // messages and events stored after them, and written back every COUNTERS_SAVE_MS, before
  // anything that deletes messages or events, and at close.

  chatCounters(chatId: ChatId): ChatCounters | undefined {
    let chat = this.chats.get(chatId);
    if (!chat) {
      chat = this.counters.chatCounters.get(chatId);
      if (!chat) return undefined;
      const last = this.counters.lastMessage.get(chatId);
      if (last && last.seq > chat.lastSeq) {
        chat.lastSeq = last.seq;
        chat.lastActivityAt = Math.max(chat.lastActivityAt, last.sentAt);
        this.dirtyChats.add(chatId);
      }
      this.chats.set(chatId, chat);
    }
    return chat;
  }

  head(userHash: UserHash): number {
    let head = this.#heads.get(userHash);
    if (head === undefined) {
      const saved = this.counters.streamHead.get(userHash) ?? 0;
      head = Math.max(saved, this.counters.streamTop.get({ userHash }) ?? 0);
      this.#heads.set(userHash, head);
      if (head > saved) this.#dirtyHeads.add(userHash);
    }
    return head;
  }

  setHead(userHash: UserHash, id: number): void {
    this.#heads.set(userHash, id);
    this.#dirtyHeads.add(userHash);
  }

  /** Inside a write: writes back the counters moved since they were last written. */
  saveCounters(): void {
    const { recordMessageInChat, saveStreamHead } = this.counters;
    for (const chatId of this.dirtyChats) {
      const { lastSeq, lastActivityAt } = this.chats.get(chatId)!;
      recordMessageInChat.run(lastSeq, lastActivityAt, chatId);
    }
    for (const userHash of this.#dirtyHeads) saveStreamHead.run(userHash, this.#heads.get(userHash)!);
    this.dirtyChats.clear();
    this.#dirtyHeads.clear();
  }

  /** After a rollback the cached counters may be ahead of the file: read them again (see chatCounters, head). */
  #forgetCounters(): void {
    this.chats.clear();
    this.#heads.clear();
    this.dirtyChats.clear();
    this.#dirtyHeads.clear();
  }
}
