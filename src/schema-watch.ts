// What a shared (reader's) handle knows of its database's schema: whether a view or trigger
// there asks for the connection's counters, and as of which schema and data versions, so
// that a read can be confirmed after it ran without a PRAGMA of its own (see Sessions).

import type { Database } from "bun:sqlite";
import { asksForCounters } from "./sql-statements";

/** Whether a database's views, and its triggers, ask for the connection's counters. */
type CounterUse = { views: boolean; triggers: boolean };

/** What a shared handle last read of its database's schema, as of which versions. */
export type KnownSchema = { version: bigint; dataVersion: number; use: CounterUse };
const schemaUse = new WeakMap<Database, KnownSchema>();

/** The schema as `handle` last read it, if it has. */
export function lastReadSchema(handle: Database): KnownSchema | undefined {
  return schemaUse.get(handle);
}

/**
 * Reads the schema's view and trigger use anew if its version moved. A statement that goes
 * through a view, or fires a trigger, that asks for the connection's counters must run on
 * the session's own handle: on a shared one `last_insert_rowid()`, `changes()` and
 * `total_changes()` inside them would be the reader's, not the session's. They are judged as
 * mayReadAnywhere judges the statement's own text. One PRAGMA (a transaction) to learn the
 * schema version; the views and triggers are read again only when it changed.
 */
export function readSchema(handle: Database): KnownSchema {
  const { schema_version: version } = handle.query("PRAGMA main.schema_version").get() as { schema_version: bigint };
  let known = schemaUse.get(handle);
  if (known?.version !== version) {
    const rows = handle.query("SELECT type, sql FROM main.sqlite_schema WHERE type IN ('view', 'trigger')").values() as [string, string][];
    const asks = (type: string) => rows.some(([kind, sql]) => kind === type && asksForCounters(sql));
    known = { version, dataVersion: 0, use: { views: asks("view"), triggers: asks("trigger") } };
    schemaUse.set(handle, known);
  }
  known.dataVersion = dataVersion(handle);
  return known;
}

const SQLITE_FCNTL_DATA_VERSION = 35;
const dataVersionBox = new Uint32Array(2); // bun:sqlite wants at least 8 bytes

/**
 * The main database's data version: SQLite adds one whenever this handle commits, or a
 * transaction on it starts and finds that another connection committed. A memory read, no I/O.
 */
export function dataVersion(handle: Database): number {
  handle.fileControl(SQLITE_FCNTL_DATA_VERSION, dataVersionBox);
  return dataVersionBox[0]!;
}
