// Checkpoints an SQLite database in WAL mode from a worker thread, on SqliteStorage's request
// (see SqliteStorage#checkpoint): copying WAL pages into the database file and fsyncing it
// takes milliseconds, which the server's event loop should not spend. Plain JavaScript, so it
// runs without a TS loader.
//
// One checkpoint, in two steps:
//  1. 'copy': PASSIVE checkpoints copy what the WAL holds while the server keeps committing,
//     in rounds, until what arrived during a round is small. A read transaction stays open
//     on another connection throughout: without it, a copy that caught up with the WAL would
//     let the server's next commit restart the WAL, and SQLite fsyncs a restarted WAL's
//     header inside that commit, on the event loop.
//  2. 'complete': the server holds new commits (briefly: only the last round's arrivals are
//     left to copy); the reader ends, a FULL checkpoint copies the rest, and one no-op write
//     restarts the WAL here, so the new header's fsync runs on this thread.
// A checkpoint that never holds commits never catches up under steady load, so the WAL never
// restarts and grows without bound; this one always catches up.
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const open = () => {
  const db = new Database(workerData.file);
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL'); // a checkpoint fsyncs the WAL, then the database file
  db.pragma('wal_autocheckpoint = 0');
  return db;
};
const db = open();
// Two pins, so that one is always held while the other moves to the WAL's end.
const pins = [open(), open()].map((pin) => ({
  pin,
  begin: pin.prepare('BEGIN'),
  read: pin.prepare('SELECT count(*) FROM sqlite_schema').pluck(),
  end: pin.prepare('COMMIT'),
}));
let held = null;
const pinEnd = () => {
  // A new pin starts at the WAL's end before the old one lets go; the read starts the transaction.
  const next = pins.find((p) => p !== held);
  next.begin.run();
  next.read.get();
  unpin();
  held = next;
};
const unpin = () => {
  if (held?.pin.inTransaction) held.end.run();
  held = null;
};
/** Frames a copy round may leave for the hold: about a megabyte at 4 KiB pages. */
const LEFT_FOR_HOLD = 256;
const MAX_ROUNDS = 8;
// The frames in the WAL now: mxFrame of the wal-index header, at byte 16 of the -shm file
// (in this machine's byte order). Its file length says nothing once the WAL has restarted.
const shm = openSync(`${workerData.file}-shm`, 'r');
const word = new Uint32Array(1);
const walFrames = () => (readSync(shm, word, 0, 4, 16) === 4 ? word[0] : 0);
const userVersion = db.prepare('PRAGMA user_version').pluck();
const pageSize = Number(db.pragma('page_size', { simple: true }));
/** Past twice the size at which the server asks for a checkpoint, commits wait for the rest. */
const holdAtFrames = Math.ceil((2 * workerData.walCheckpointBytes) / (pageSize + 24));

const describe = (error) => (error instanceof Error ? error.message : String(error));

parentPort.on('message', (message) => {
  if (message === 'copy') {
    const started = performance.now();
    try {
      // Rounds, each copying what the last left, until what is left is small: the writer
      // waits only for that. Stops early if a round caught up (the pin must then stay: a new
      // one would start at a fully copied WAL and not stop the writer restarting it).
      // Also stops when a round did not shrink what is left (the writer is outpacing the
      // copy: a slow disk) or the WAL has passed twice its limit, so the WAL stays bounded.
      let left = Infinity;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        pinEnd();
        const [{ checkpointed }] = db.pragma('wal_checkpoint(PASSIVE)');
        const frames = walFrames();
        const before = left;
        left = frames - checkpointed;
        if (left <= LEFT_FOR_HOLD || left >= before || frames >= holdAtFrames) break;
      }
      parentPort.postMessage({ step: 'copied', ms: performance.now() - started });
    } catch (error) {
      unpin();
      parentPort.postMessage({ step: 'copied', error: describe(error) });
    }
  } else if (message === 'complete') {
    // FULL, then a no-op write that restarts the WAL. Not RESTART: that waits (sleeping in
    // SQLite's busy handler, 1 ms, then 2, 5, 10...) until no reader is left on a WAL frame,
    // and the server's own reads, brief as they are, kept commits held for hundreds of ms. With
    // commits held, every reader is on the newest snapshot, which is all FULL waits for.
    // Not TRUNCATE either: truncating the file took 5-35 ms on this disk; the WAL file keeps
    // its length (its high-water mark) and is written from its start again.
    const started = performance.now();
    try {
      unpin();
      const [result] = db.pragma('wal_checkpoint(FULL)');
      // Rewriting user_version with its own value changes nothing but starts the new WAL
      // (its header fsynced here). If a reader still held a WAL frame at that instant, or a
      // reader in another process kept the checkpoint from finishing (busy = 1), it appends
      // one frame instead, which keeps the WAL from counting as fully copied: the server's
      // next commit must not be the one to restart it. The next checkpoint tries again.
      db.pragma(`user_version = ${Number(userVersion.get())}`);
      const restarted = result.busy === 0 && walFrames() === 1;
      parentPort.postMessage({ step: 'completed', busy: restarted ? 0 : 1, ms: performance.now() - started });
    } catch (error) {
      parentPort.postMessage({ step: 'completed', busy: 1, ms: performance.now() - started, error: describe(error) });
    }
  } else if (message === 'close') {
    unpin();
    for (const { pin } of pins) pin.close();
    // The last connection to close folds the WAL into the file and deletes it, so a stopped
    // server leaves one self-contained file that is safe to copy.
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (error) {
      parentPort.postMessage({ step: 'closing', error: describe(error) });
    }
    db.close();
    closeSync(shm);
    parentPort.close();
  }
});
